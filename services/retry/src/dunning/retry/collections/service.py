"""What a customer (on the self-service page) or an operator arranges for an unpaid invoice: what
is on offer, a promise to pay, a payment plan, a dispute. Rows and outbox events are written in
the caller's session; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.recovery import CollectionsFacts, RecoveryEventType
from dunning.retry import repository
from dunning.retry.collections import case_ops, store
from dunning.retry.collections.domain import (
    DISPUTE_REASONS,
    SOURCES,
    CollectionsRefused,
    PlanOption,
    check_plan,
    check_promise,
    due_dates,
    end_of_day,
    local_today,
    plan_options,
    promise_latest,
    split_amount,
    start_of_day,
)
from dunning.retry.collections.policy import tenant_policy
from dunning.retry.domain.declines import classify_decline
from dunning.retry.domain.lifecycle import CaseStatus, Transition, hold, release
from dunning.retry.repository import CaseRecord

__all__ = [
    "CollectionsRefused",
    "InstalmentView",
    "PlanOption",
    "SelfServiceView",
    "open_dispute",
    "promise_to_pay",
    "request_payment_plan",
    "self_service_view",
]

MAX_DISPUTE_DETAILS = 2000
_ARRANGEABLE = (CaseStatus.OPEN, CaseStatus.PAUSED)


@dataclass(frozen=True)
class InstalmentView:
    number: int
    due: date
    amount: int
    status: str  # scheduled | paid | failed | canceled


@dataclass(frozen=True)
class SelfServiceView:
    case_id: str
    tenant_id: str
    status: str
    invoice_id: str
    invoice_number: str | None
    amount_due: int
    currency: str
    due_date: date | None
    reason_kind: str | None
    customer_id: str | None
    customer_name: str | None
    locale: str | None
    time_zone: str | None
    hosted_invoice_url: str | None
    promise_by: date | None
    plan: list[InstalmentView] | None
    dispute_reason: str | None
    promise_latest: date | None
    plan_options: list[PlanOption]
    dispute_reasons: list[str]


async def self_service_view(
    session: AsyncSession, *, tenant_id: str, case_id: str, now: datetime
) -> SelfServiceView | None:
    """The case as its customer may see it, with what they may arrange now; None: no such case."""
    row = await repository.get_case(session, tenant_id=tenant_id, case_id=case_id)
    if row is None:
        return None
    case: Any = row._mapping
    zone = case_ops.zone_of(dict(case))
    today = local_today(now, zone.zone)
    promise = await store.active_promise(session, case_id)
    plan = await store.active_plan(session, case_id)
    dispute = await store.open_dispute(session, case_id)
    policy = await tenant_policy(session, tenant_id)
    amount, currency = int(case["amount"] or 0), str(case["currency"] or "")
    arrangeable = case["status"] in _ARRANGEABLE and dispute is None and plan is None
    shown_plan = None
    if plan is not None:
        shown_plan = [
            InstalmentView(i.number, i.due_on, i.amount, "scheduled" if i.status == "claimed" else i.status)
            for i in await store.plan_instalments(session, plan.id)
        ]
    decline = case["decline_code"]
    return SelfServiceView(
        case_id=case["id"],
        tenant_id=tenant_id,
        status=case["status"],
        invoice_id=case["invoice_id"],
        invoice_number=case["invoice_number"],
        amount_due=amount,
        currency=currency,
        due_date=case["due_date"].astimezone(zone.zone).date() if case["due_date"] else None,
        reason_kind=classify_decline(decline_code=decline).category.value if decline else None,
        customer_id=case["customer_id"],
        customer_name=case["customer_name"],
        locale=None,  # notify owns contact preferences
        time_zone=zone.key,
        hosted_invoice_url=case["hosted_invoice_url"],
        promise_by=promise.pay_by if promise is not None else None,
        plan=shown_plan,
        dispute_reason=dispute.reason if dispute is not None else None,
        promise_latest=promise_latest(policy, today) if arrangeable and promise is None else None,
        plan_options=plan_options(policy, amount, currency, today) if arrangeable and currency else [],
        dispute_reasons=list(DISPUTE_REASONS) if case["status"] in _ARRANGEABLE and dispute is None else [],
    )


async def _lock_arrangeable(session: AsyncSession, tenant_id: str, case_id: str, source: str) -> CaseRecord:
    if source not in SOURCES:
        raise CollectionsRefused("invalid_source", f"source must be one of {', '.join(SOURCES)}")
    if await repository.get_case(session, tenant_id=tenant_id, case_id=case_id) is None:
        raise CollectionsRefused("case_not_found", "no case with this id")
    case = await repository.lock_case(session, case_id)
    if case.ledger.status not in _ARRANGEABLE:
        raise CollectionsRefused("case_not_open", f"the case is {case.ledger.status}: nothing to arrange")
    if await store.open_dispute(session, case_id) is not None:
        raise CollectionsRefused("dispute_open", "the invoice is disputed: it is on hold until answered")
    return case


async def promise_to_pay(
    session: AsyncSession,
    *,
    tenant_id: str,
    case_id: str,
    pay_by: date,
    source: str,
    actor: str | None,
    now: datetime,
) -> None:
    """Hold dunning until the end of ``pay_by`` (customer's zone); unpaid then, the promise is broken."""
    case = await _lock_arrangeable(session, tenant_id, case_id, source)
    if await store.active_plan(session, case_id) is not None:
        raise CollectionsRefused("plan_active", "a payment plan is running for this invoice")
    if await store.active_promise(session, case_id) is not None:
        raise CollectionsRefused("promise_active", "there is already a promise to pay for this invoice")
    zone = case_ops.zone_of(case.details)
    check_promise(await tenant_policy(session, tenant_id), pay_by, local_today(now, zone.zone))
    promise_id = await store.insert_promise(
        session,
        case_id=case_id,
        tenant_id=tenant_id,
        pay_by=pay_by,
        check_at=end_of_day(pay_by, zone.zone),
        source=source,
        actor=actor,
        now=now,
    )
    await case_ops.record(
        session,
        case,
        kind="promise.made",
        note=f"promise to pay by {pay_by} ({source}{f', {actor}' if actor else ''}): dunning held",
        now=now,
        cause_id=promise_id,
        facts=CollectionsFacts(source=source, promise_id=promise_id, pay_by=pay_by),
        event=RecoveryEventType.CASE_PROMISE_MADE,
        transition=hold(case.ledger, "promise_to_pay"),
    )


async def request_payment_plan(
    session: AsyncSession,
    *,
    tenant_id: str,
    case_id: str,
    instalments: int,
    source: str,
    actor: str | None,
    now: datetime,
) -> None:
    """Split what is owed into ``instalments`` within the tenant's limits; the first is due today.

    A running promise is replaced by the plan (the plan's hold goes on before the promise's
    comes off, so the case never resumes in between)."""
    case = await _lock_arrangeable(session, tenant_id, case_id, source)
    if await store.active_plan(session, case_id) is not None:
        raise CollectionsRefused("plan_active", "a payment plan is already running for this invoice")
    amount, currency = case.details.get("amount"), case.details.get("currency")
    if not amount or not currency:
        raise CollectionsRefused("amount_unknown", "the amount owed is not known yet")
    zone = case_ops.zone_of(case.details)
    today = local_today(now, zone.zone)
    check_plan(await tenant_policy(session, tenant_id), int(amount), str(currency), instalments, today)
    policy = await tenant_policy(session, tenant_id)
    days = due_dates(today, instalments, policy.interval_days)
    due = [(d, max(now, start_of_day(d, zone.zone))) for d in days]
    plan_id = await store.start_plan_rows(
        session,
        case=case,
        kind="payment_plan",
        amounts=split_amount(int(amount), instalments),
        due=due,
        currency=str(currency),
        source=source,
        actor=actor,
        now=now,
    )
    transition = hold(case.ledger, "payment_plan")
    promise = await store.active_promise(session, case_id)
    if promise is not None:
        await store.end_promise(session, promise.id, "canceled", now)
        transition = _then(transition, release(transition.ledger, "promise_to_pay"))
    await case_ops.record(
        session,
        case,
        kind="plan.started",
        note=(
            f"payment plan: {instalments} instalments of {amount} {currency} in total, "
            f"{days[0]} to {days[-1]} ({source}{f', {actor}' if actor else ''}): dunning held"
        ),
        now=now,
        cause_id=plan_id,
        facts=CollectionsFacts(source=source, plan_id=plan_id, instalments=instalments),
        event=RecoveryEventType.CASE_PLAN_STARTED,
        transition=transition,
    )


async def open_dispute(
    session: AsyncSession,
    *,
    tenant_id: str,
    case_id: str,
    reason: str,
    details: str | None,
    source: str,
    actor: str | None,
    now: datetime,
) -> None:
    """The customer says the invoice is wrong: dunning holds and ``case.disputed`` tells the tenant."""
    if reason not in DISPUTE_REASONS:
        raise CollectionsRefused("invalid_reason", f"reason must be one of {', '.join(DISPUTE_REASONS)}")
    if details is not None and (len(details) > MAX_DISPUTE_DETAILS or "\x00" in details):
        raise CollectionsRefused("invalid_details", f"details are at most {MAX_DISPUTE_DETAILS} characters")
    case = await _lock_arrangeable(session, tenant_id, case_id, source)
    dispute_id = store.new_id("cdp")
    await store.insert_dispute(
        session,
        dispute_id=dispute_id,
        case_id=case_id,
        tenant_id=tenant_id,
        reason=reason,
        details=details,
        source=source,
        actor=actor,
        now=now,
    )
    await case_ops.record(
        session,
        case,
        kind="dispute.opened",
        note=f"invoice disputed by the customer ({reason}; {source}{f', {actor}' if actor else ''})",
        now=now,
        cause_id=dispute_id,
        facts=CollectionsFacts(source=source, dispute_id=dispute_id, dispute_reason=reason),
        transition=hold(case.ledger, "customer_dispute", ("case.disputed",)),
    )


def _then(first: Transition, second: Transition) -> Transition:
    """Two transitions as one: the second's ledger, both's events."""
    return Transition(second.ledger, first.events + second.events, first.note)
