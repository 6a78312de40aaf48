"""Attempts of a case in the database, and the next one planned by the domain scheduler.

The scheduler (``domain.schedule.next_attempt_slot``) decides; this module gathers its inputs
(the case's failed attempts, the card's attempts across the tenant, the policy) and writes
down what it decided as an attempt row and an ``attempt.scheduled`` event, in the caller's
transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.envelope import CloudEvent, deterministic_event_id, make_event
from dunning.common.events.recovery import AttemptEventData, RecoveryEventType
from dunning.retry.domain.declines import classify_decline
from dunning.retry.domain.history import AttemptHistory, PastAttempt
from dunning.retry.domain.lifecycle import CaseStatus, InvoiceLedger
from dunning.retry.domain.policy import RetryMode, RetryPolicy
from dunning.retry.domain.schedule import Slot, next_attempt_slot
from dunning.retry.policy_schema import TENANT_DEFAULT, RetryPolicyBody, to_domain
from dunning.retry.repository import get_policy
from dunning.retry.tables import SCHEMA, attempts

SOURCE = "/dunning/retry"
_PENDING = ("scheduled", "claimed")


async def tenant_policy(session: AsyncSession, tenant_id: str) -> RetryPolicy:
    stored = await get_policy(session, tenant_id)
    return to_domain(RetryPolicyBody.model_validate(stored)) if stored else TENANT_DEFAULT


async def next_number(session: AsyncSession, case_id: str) -> int:
    highest = await session.scalar(
        select(func.max(attempts.c.attempt_no)).where(attempts.c.case_id == case_id)
    )
    return int(highest or 0) + 1


async def is_known_charge(session: AsyncSession, case_id: str, charge_id: str | None) -> bool:
    """Stripe reports one failed charge up to three times (invoice, payment intent and charge
    events), and our own failed charges come back as webhooks too: the charge id tells."""
    if not charge_id:
        return False
    found = await session.scalar(
        select(attempts.c.id).where(attempts.c.case_id == case_id, attempts.c.charge_ref == charge_id)
    )
    return found is not None


async def record_processor_failure(
    session: AsyncSession, *, case_id: str, tenant_id: str, at: datetime, facts: dict[str, Any]
) -> None:
    """Record a failure the processor reported (the caller checked ``is_known_charge``)."""
    await session.execute(
        attempts.insert().values(
            id=f"att_{secrets.token_hex(8)}",
            case_id=case_id,
            tenant_id=tenant_id,
            attempt_no=await next_number(session, case_id),
            kind="charge",
            source="processor",
            status="failed",
            due_at=at,
            method_id=facts.get("payment_method_id"),
            card_brand=facts.get("card_brand"),
            reason="reported by the processor",
            charge_ref=facts.get("charge_id"),
            decline_code=facts.get("decline_code"),
            failure_code=facts.get("failure_code"),
            advice_code=facts.get("advice_code"),
            network_advice_code=facts.get("network_advice_code"),
            finished_at=at,
        )
    )


async def claim_due(
    session: AsyncSession, *, now: datetime, worker: str, batch: int, ttl: timedelta
) -> list[Any]:
    """Take up to ``batch`` due attempts for ``worker``; claims older than ``ttl`` are taken back first."""
    # A claim that old belongs to a replica that died mid-attempt: run it again (same key).
    await session.execute(
        update(attempts)
        .where(attempts.c.status == "claimed", attempts.c.claimed_at < now - ttl)
        .values(status="scheduled", claimed_by=None)
    )
    result = await session.execute(
        text(
            f"UPDATE {SCHEMA}.attempts SET status = 'claimed', claimed_at = :now, claimed_by = :me "
            f"WHERE id IN (SELECT id FROM {SCHEMA}.attempts WHERE status = 'scheduled' AND due_at <= :now "
            "ORDER BY due_at LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING *"
        ),
        {"now": now, "me": worker, "n": batch},
    )
    return [row._mapping for row in result]


async def still_claimed(session: AsyncSession, attempt_id: str, worker: str) -> bool:
    found = await session.scalar(
        select(attempts.c.id).where(
            attempts.c.id == attempt_id, attempts.c.status == "claimed", attempts.c.claimed_by == worker
        )
    )
    return found is not None


async def finish(session: AsyncSession, attempt_id: str, values: dict[str, Any]) -> bool:
    """Write an attempt's outcome; True if the processor had already reported the same charge
    (its webhook overtook us), in which case that report is folded into this attempt."""
    await session.execute(update(attempts).where(attempts.c.id == attempt_id).values(**values))
    charge = values.get("charge_ref")
    if not charge:
        return False
    folded = await session.execute(
        attempts.delete().where(
            attempts.c.charge_ref == charge, attempts.c.source == "processor", attempts.c.id != attempt_id
        )
    )
    return bool(getattr(folded, "rowcount", 0))


async def cancel_pending(session: AsyncSession, case_id: str, why: str) -> None:
    """Scheduled attempts of a case that stopped needing them (recovered, paused, closed)."""
    await session.execute(
        update(attempts)
        .where(attempts.c.case_id == case_id, attempts.c.status == "scheduled")
        .values(status="canceled", reason=attempts.c.reason + f" — canceled: {why}", finished_at=func.now())
    )


async def history(session: AsyncSession, case_id: str) -> AttemptHistory:
    rows = (
        await session.execute(
            select(attempts)
            .where(attempts.c.case_id == case_id, attempts.c.status == "failed", attempts.c.kind == "charge")
            .order_by(attempts.c.due_at)
        )
    ).all()
    return AttemptHistory(
        tuple(
            PastAttempt(
                at=row.due_at,
                method_id=row.method_id,
                card_brand=row.card_brand,
                advice=classify_decline(
                    decline_code=row.decline_code,
                    failure_code=row.failure_code,
                    advice_code=row.advice_code,
                    network_advice_code=row.network_advice_code,
                    card_brand=row.card_brand,
                ),
            )
            for row in rows
        )
    )


async def card_attempt_times(
    session: AsyncSession, tenant_id: str, now: datetime
) -> dict[str, list[datetime]]:
    """Every charge on each of the tenant's cards in the last 30 days: the networks count per card."""
    rows = (
        await session.execute(
            select(attempts.c.method_id, attempts.c.due_at).where(
                attempts.c.tenant_id == tenant_id,
                attempts.c.method_id.is_not(None),
                attempts.c.status.in_(("failed", "succeeded")),
                attempts.c.due_at > now - timedelta(days=31),
            )
        )
    ).all()
    times: dict[str, list[datetime]] = {}
    for method_id, at in rows:
        times.setdefault(method_id, []).append(at)
    return times


async def plan_next(
    session: AsyncSession,
    *,
    case_id: str,
    tenant_id: str,
    invoice_id: str,
    ledger: InvoiceLedger,
    details: dict[str, Any],
    now: datetime,
) -> list[CloudEvent]:
    """Schedule the case's next attempt (or its end action); the events to publish."""
    if ledger.status is not CaseStatus.OPEN or ledger.opened_at is None:
        return []
    policy = await tenant_policy(session, tenant_id)
    if policy.mode is RetryMode.OBSERVE:
        return []  # the processor retries; we track and notify
    pending = await session.scalar(
        select(func.count()).where(attempts.c.case_id == case_id, attempts.c.status.in_(_PENDING))
    )
    if pending:
        return []
    past = await history(session, case_id)
    last = past.last
    if last is None:
        return []
    decision = next_attempt_slot(
        now=now,
        opened_at=ledger.opened_at,
        history=past,
        advice=last.advice,
        policy=policy,
        # The customer's zone is not known yet: the scheduler uses UTC and says so in the reason.
        customer_tz=None,
        card_attempt_times=await card_attempt_times(session, tenant_id, now),
        method_id=last.method_id,
    )
    number = await next_number(session, case_id)
    attempt_id = f"att_{secrets.token_hex(8)}"
    row = {"id": attempt_id, "case_id": case_id, "tenant_id": tenant_id, "attempt_no": number}
    if not isinstance(decision, Slot):
        if decision.end_action is None or decision.end_at is None:
            return []
        await session.execute(
            attempts.insert().values(
                **row,
                kind="end_action",
                source="dunning",
                status="scheduled",
                due_at=decision.end_at,
                reason=f"{decision.reason} (end action: {decision.end_action})",
                idempotency_key=f"{case_id}:{number}:end",
            )
        )
        return []
    await session.execute(
        attempts.insert().values(
            **row,
            kind="charge",
            source="dunning",
            status="scheduled",
            due_at=decision.due_at,
            method_id=decision.method_id,
            reason=decision.reason,
            success_probability=decision.success_probability,
            idempotency_key=f"{case_id}:{number}:{decision.method_id or 'default'}",
        )
    )
    return [
        attempt_event(
            RecoveryEventType.ATTEMPT_SCHEDULED,
            tenant_id=tenant_id,
            case_id=case_id,
            invoice_id=invoice_id,
            attempt_id=attempt_id,
            number=number,
            method_id=decision.method_id,
            due_at=decision.due_at,
            reason=decision.reason,
            probability=decision.success_probability,
            details=details,
            occurred_at=now,
        )
    ]


def attempt_event(
    event_type: RecoveryEventType,
    *,
    tenant_id: str,
    case_id: str,
    invoice_id: str,
    attempt_id: str,
    number: int,
    method_id: str | None,
    due_at: datetime,
    reason: str,
    probability: float | None,
    details: dict[str, Any],
    occurred_at: datetime,
    decline_code: str | None = None,
    failure_code: str | None = None,
) -> CloudEvent:
    body = AttemptEventData(
        tenant_id=tenant_id,
        case_id=case_id,
        invoice_id=invoice_id,
        attempt_id=attempt_id,
        attempt_number=number,
        payment_method_id=method_id,
        due_at=due_at,
        reason=reason,
        success_probability=probability,
        amount=details.get("amount") or 0,
        currency=details.get("currency") or "XXX",
        decline_code=decline_code,
        failure_code=failure_code,
        occurred_at=occurred_at,
    )
    return make_event(
        event_id=deterministic_event_id(tenant_id, attempt_id, event_type.value),
        source=SOURCE,
        type=event_type.cloudevents_type,
        subject=f"{tenant_id}:{invoice_id}",
        time=occurred_at,
        tenant_id=tenant_id,
        data=body,
    )
