"""A customer's payment method changes, applied to their open cases in the consumer's transaction.

A card attached or fixed is charged soon, because the customer acting on their card is the
likeliest moment to recover; a card removed is no longer charged. The events name a customer,
not an invoice, so every open case of that customer is locked and re-planned, through the same
scheduler (caps, window, ``max_attempts``) as any other plan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.envelope import CloudEvent
from dunning.common.events.payment import PaymentEventType, PaymentMethodData
from dunning.retry import attempt_store, planning, repository
from dunning.retry.domain.lifecycle import CaseStatus
from dunning.retry.domain.methods import MethodChange, MethodChangeKind, StoredMethod
from dunning.retry.domain.policy import RetryMode
from dunning.retry.domain.schedule import Stop
from dunning.retry.repository import CaseRecord

log = structlog.get_logger(__name__)

_TIMELINE_FIELDS = ("change", "payment_method_id", "card_brand", "card_last4", "provider_event_id")


async def apply_method_event(
    session: AsyncSession, event: CloudEvent, kind: PaymentEventType, data: PaymentMethodData, now: datetime
) -> list[CloudEvent]:
    """Note the change on each of the customer's open cases and re-plan them; the events to publish."""
    if not data.customer_id:
        log.info("payment method event names no customer: no case to re-plan", event_id=event.id)
        return []
    records = await repository.lock_cases_of_customer(
        session, tenant_id=data.tenant_id, customer_id=data.customer_id, status=CaseStatus.OPEN
    )
    method = _stored_method(data)
    if kind is PaymentEventType.CARD_EXPIRING:
        expiry = f"{data.card_exp_month}/{data.card_exp_year}" if data.card_exp_year else "soon"
        for record in records:
            # Nothing to charge: a card that still works is retried as planned.
            note = f"the customer's {method.label()} expires after {expiry}; the retries are unchanged"
            await _note(session, record, event, kind, data, note)
        return []
    try:
        change = MethodChange(MethodChangeKind(data.change), method, data.occurred_at)
    except ValueError:
        log.info("payment method change not for retry", change=data.change, event_id=event.id)
        return []
    outgoing: list[CloudEvent] = []
    for record in records:
        if change.kind is MethodChangeKind.DETACHED:
            outcome, events = await _without_method(session, record, change, now)
        else:
            outcome, events = await _with_method(session, record, change, now)
        await _note(session, record, event, kind, data, f"{change.describe()}; {outcome}")
        outgoing += events
    return outgoing


async def _with_method(
    session: AsyncSession, record: CaseRecord, change: MethodChange, now: datetime
) -> tuple[str, list[CloudEvent]]:
    """Plan a charge on the new or fixed method, replacing what was planned unless that comes sooner."""
    policy = await planning.tenant_policy(session, record.tenant_id)
    if policy.mode is RetryMode.OBSERVE:
        return "nothing planned: the tenant's policy is observe (the processor retries)", []
    pending = await attempt_store.lock_pending(session, record.id)
    running = next((p for p in pending if p.status == "claimed"), None)
    if running is not None:
        # Its outcome re-plans the case; a second attempt meanwhile could charge twice.
        return f"not planned: attempt {running.attempt_no} is running right now", []
    same = next((p for p in pending if p.kind == "charge" and p.method_id == change.method.id), None)
    if same is not None:
        return f"attempt {same.attempt_no} already charges it at {same.due_at:%Y-%m-%d %H:%M} UTC", []
    history = await attempt_store.history(session, record.id)
    if history.last is None or record.ledger.opened_at is None:
        return "nothing planned: the case has no failed charge to retry", []
    decision = await planning.decide(
        session,
        tenant_id=record.tenant_id,
        opened_at=record.ledger.opened_at,
        details=record.details,
        now=now,
        history=history,
        policy=policy,
        change=change,
        # The pending attempts stay only if the new charge is not planned; it must not count them.
        excluding=[p.id for p in pending],
    )
    if isinstance(decision, Stop):
        return f"not retried: {decision.reason}", []
    sooner = next((p for p in pending if p.kind == "charge" and p.due_at <= decision.due_at), None)
    if sooner is not None:
        # Moving a charge later loses time; if it fails, the next plan starts from its decline.
        return f"attempt {sooner.attempt_no} is due sooner ({sooner.due_at:%Y-%m-%d %H:%M} UTC) and stays", []
    # The locked rows are exactly what this cancels: an end action, a lookup or a later charge.
    replaced = [f"the planned {p.kind} (attempt {p.attempt_no})" for p in pending]
    await attempt_store.cancel_pending(session, record.id, f"replaced: {change.describe()}")
    events = await planning.schedule_charge(
        session,
        decision,
        case_id=record.id,
        tenant_id=record.tenant_id,
        invoice_id=record.invoice_id,
        details=record.details,
        now=now,
        history=history,
        methods=(change.method,),
    )
    instead = f", replacing {', '.join(replaced)}" if replaced else ""
    return f"retrying soon: charge at {decision.due_at:%Y-%m-%d %H:%M} UTC{instead}", events


async def _without_method(
    session: AsyncSession, record: CaseRecord, change: MethodChange, now: datetime
) -> tuple[str, list[CloudEvent]]:
    """Cancel what would charge the removed method, and ask the scheduler again without it."""
    method_id = change.method.id
    pending = await attempt_store.lock_pending(session, record.id)
    running = next((p for p in pending if p.status == "claimed" and p.method_id == method_id), None)
    if running is not None:
        return f"attempt {running.attempt_no} on it is running; its outcome decides what follows", []
    canceled = await attempt_store.cancel_pending(session, record.id, change.describe(), method_id=method_id)
    if not canceled:
        return "no planned attempt charges it", []
    events = await planning.plan_next(
        session,
        case_id=record.id,
        tenant_id=record.tenant_id,
        invoice_id=record.invoice_id,
        ledger=record.ledger,
        details=record.details,
        now=now,
        change=change,
    )
    after = await attempt_store.lock_pending(session, record.id)
    numbers = ", ".join(map(str, canceled))
    planned = (
        f"next: {after[0].kind} (attempt {after[0].attempt_no}) at {after[0].due_at:%Y-%m-%d %H:%M} UTC"
        if after
        else "nothing planned"
    )
    return f"attempt {numbers} would have charged it: canceled and re-planned without it; {planned}", events


def _stored_method(data: PaymentMethodData) -> StoredMethod:
    # What the event tells is all the scheduler needs: no lookup at the processor. Whether it
    # became the default is not in the event, and nothing here depends on it.
    return StoredMethod(
        id=data.payment_method_id,
        kind=data.payment_method_kind or "card",
        brand=data.card_brand,
        exp_month=data.card_exp_month,
        exp_year=data.card_exp_year,
        is_default=False,
        created=data.occurred_at,
        updated_at=data.occurred_at,
        last4=data.card_last4,
    )


async def _note(
    session: AsyncSession,
    record: CaseRecord,
    event: CloudEvent,
    kind: PaymentEventType,
    data: PaymentMethodData,
    note: str,
) -> None:
    fields: dict[str, Any] = data.model_dump(mode="json", include=set(_TIMELINE_FIELDS))
    await repository.add_to_timeline(
        session,
        case_id=record.id,
        tenant_id=record.tenant_id,
        at=data.occurred_at,
        kind="fact",
        type=kind.value,
        note=note,
        cause_event_id=event.id,
        data={k: v for k, v in fields.items() if v is not None},
    )
