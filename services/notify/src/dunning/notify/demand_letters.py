"""Demand letters for business debtors (ADR 0010): a durable timer per b2b case fires each
days-overdue threshold (default 30/60/90) once, planning one ``b2b_letter`` delivery for the
customer's billing address and one for each extra contact. Run by the walker, in its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.notify import b2b_customers, delivery_store, repository
from dunning.notify.contacts import resolve
from dunning.notify.tables import escalations, letter_timers

log = structlog.get_logger(__name__)

B2B_LETTER = "b2b_letter"
LETTER_TEMPLATE = "demand_letter"
PRIMARY = "customer"  # the recipient part of the key for the customer's own billing address


def is_b2b(regime: str, customer_type: str | None) -> bool:
    return regime == "b2b" or customer_type == "b2b"


def next_threshold_at(due: date, thresholds: Sequence[int], fired: Sequence[int]) -> datetime | None:
    """When the first threshold not yet fired is reached (midnight UTC of that day), if any."""
    left = [t for t in thresholds if t not in fired]
    return datetime.combine(due + timedelta(days=min(left)), time(0), UTC) if left else None


def reached(due: date, thresholds: Sequence[int], fired: Sequence[int], today: date) -> list[int]:
    return [t for t in thresholds if t not in fired and due + timedelta(days=t) <= today]


async def arm(session: AsyncSession, row: Any) -> bool:
    """Start the case's letter timer if it is a b2b case and the policy sends letters; once.

    The thresholds are a snapshot, like the levels: a policy edit does not re-send a letter.
    """
    tenant, customer_id = row["tenant_id"], row["customer_id"]
    policy = await repository.policy_of(session, tenant)
    thresholds = list(policy.b2b.demand_letter_days)
    if not thresholds:
        return False
    contact = await repository.contact_row(session, tenant, customer_id) if customer_id else None
    who = resolve(customer_id, contact, default_locale=policy.default_locale)
    if not is_b2b(policy.compliance.regime, who.customer_type):
        return False
    settings = await b2b_customers.settings_of(session, tenant, customer_id) if customer_id else None
    invoice = await repository.invoice_facts(session, tenant, row["invoice_id"])
    due = b2b_customers.due_date(
        invoice["due_date"] if invoice else None,
        row["opened_at"],
        settings["payment_terms_days"] if settings else None,
    )
    result = await session.execute(
        insert(letter_timers)
        .values(
            case_id=row["case_id"],
            tenant_id=tenant,
            customer_id=customer_id,
            invoice_id=row["invoice_id"],
            due_date=due,
            thresholds=thresholds,
            fired=[],
            next_at=next_threshold_at(due, thresholds, []),
        )
        .on_conflict_do_nothing(index_elements=["case_id"])
        .returning(letter_timers.c.case_id)
    )
    return result.first() is not None


async def fire_due(session: AsyncSession, *, now: datetime, batch: int) -> int:
    """Fire the due thresholds of unpaid cases; how many timers were handled."""
    # A paid, closed or written-off case's timer stops for good.
    stopped = select(escalations.c.case_id).where(escalations.c.status == "stopped")
    await session.execute(
        update(letter_timers)
        .where(letter_timers.c.next_at <= now, letter_timers.c.case_id.in_(stopped))
        .values(next_at=None)
    )
    rows = (
        await session.execute(
            select(letter_timers)
            .join(escalations, escalations.c.case_id == letter_timers.c.case_id)
            .where(and_(letter_timers.c.next_at <= now, escalations.c.status.in_(("active", "completed"))))
            .order_by(letter_timers.c.next_at)
            .limit(batch)
            .with_for_update(of=letter_timers, skip_locked=True)
        )
    ).mappings()
    handled = 0
    for timer in list(rows):
        handled += 1
        await _fire(session, timer, now)
    return handled


async def _fire(session: AsyncSession, timer: Any, now: datetime) -> None:
    today = now.date()
    fired = list(timer["fired"])
    due_now = reached(timer["due_date"], timer["thresholds"], fired, today)
    if due_now:
        # Several at once (a case that opened late, a backlog): only the latest letter goes; the
        # earlier thresholds count as passed, so none is ever sent later or twice.
        threshold = max(due_now)
        fired += due_now
        await _plan(session, timer, threshold, today, now)
        log.info("demand letter planned", case=timer["case_id"], threshold=threshold, passed=due_now[:-1])
    await session.execute(
        update(letter_timers)
        .where(letter_timers.c.case_id == timer["case_id"])
        .values(fired=fired, next_at=next_threshold_at(timer["due_date"], timer["thresholds"], fired))
    )


async def _plan(session: AsyncSession, timer: Any, threshold: int, today: date, now: datetime) -> None:
    tenant, customer_id, case_id = timer["tenant_id"], timer["customer_id"], timer["case_id"]
    settings = await b2b_customers.settings_of(session, tenant, customer_id) if customer_id else None
    recipients: list[tuple[str | None, str]] = [(None, "billing")]
    recipients += list(b2b_customers.contact_addresses(settings))
    for address, role in recipients:
        # One letter per customer, threshold and day for each recipient: two invoices of the same
        # customer crossing 30 days together make one letter that lists both.
        key = f"{tenant}:letter:{customer_id or case_id}:{threshold}:{today.isoformat()}:{address or PRIMARY}"
        await delivery_store.schedule(
            session,
            tenant_id=tenant,
            key=key,
            template=LETTER_TEMPLATE,
            channel=B2B_LETTER,
            due_at=now,
            case_id=case_id,
            invoice_id=timer["invoice_id"],
            customer_id=customer_id,
            level_name=f"demand letter, {threshold} days overdue",
            note=f"demand letter at {threshold} days overdue to the {role} contact",
            facts={
                "threshold": threshold,
                "letter_date": today.isoformat(),
                "recipient": address,
                "role": role,
            },
        )
