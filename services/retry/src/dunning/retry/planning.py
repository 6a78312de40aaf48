"""Attempts of a case in the database, and the next one planned by the domain scheduler.

The scheduler (``domain.schedule.next_attempt_slot``) decides; this module gathers its inputs
(the case's failed attempts, the card's attempts across the tenant, the policy) and writes
down what it decided as an attempt row and an ``attempt.scheduled`` event, in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.envelope import CloudEvent, deterministic_event_id, make_event
from dunning.common.events.recovery import AttemptEventData, RecoveryEventType
from dunning.common.zones import customer_zone, zones_by_country
from dunning.retry import attempt_store, card_records
from dunning.retry.domain.history import AttemptHistory
from dunning.retry.domain.lifecycle import CaseStatus, InvoiceLedger
from dunning.retry.domain.methods import MethodChange, StoredMethod
from dunning.retry.domain.policy import RetryMode, RetryPolicy
from dunning.retry.domain.schedule import Slot, Stop, next_attempt_slot
from dunning.retry.policy_schema import TENANT_DEFAULT, RetryPolicyBody, to_domain
from dunning.retry.repository import add_to_timeline, get_policy

SOURCE = "/dunning/retry"


async def tenant_policy(session: AsyncSession, tenant_id: str) -> RetryPolicy:
    stored = await get_policy(session, tenant_id)
    return to_domain(RetryPolicyBody.model_validate(stored)) if stored else TENANT_DEFAULT


async def plan_next(
    session: AsyncSession,
    *,
    case_id: str,
    tenant_id: str,
    invoice_id: str,
    ledger: InvoiceLedger,
    details: dict[str, Any],
    now: datetime,
    methods: Sequence[StoredMethod] | None = None,
    change: MethodChange | None = None,
) -> list[CloudEvent]:
    """Schedule the case's next attempt (or its end action); the events to publish.

    ``methods`` are the customer's stored methods when known. When the scheduler finds no way
    forward without them and the tenant allows other methods, a lookup is scheduled instead:
    the executor fetches them from the processor and asks the scheduler again. ``change`` is a
    method the customer just removed, which the scheduler then leaves out.
    """
    if ledger.status is not CaseStatus.OPEN or ledger.opened_at is None:
        return []
    policy = await tenant_policy(session, tenant_id)
    if policy.mode is RetryMode.OBSERVE:
        return []  # the processor retries; we track and notify
    if await attempt_store.has_pending(session, case_id):
        return []
    past = await attempt_store.history(session, case_id)
    if past.last is None:
        return []
    decision = await decide(
        session,
        tenant_id=tenant_id,
        opened_at=ledger.opened_at,
        details=details,
        now=now,
        history=past,
        policy=policy,
        methods=methods,
        change=change,
    )
    if not isinstance(decision, Slot) and methods is None and policy.allow_alternate_methods:
        await attempt_store.schedule(
            session,
            case_id=case_id,
            tenant_id=tenant_id,
            kind="methods_lookup",
            due_at=now + policy.cascade_delay,
            reason=f"{decision.reason.split('; waiting')[0]}; looking up the customer's other stored methods",
        )
        return []
    if not isinstance(decision, Slot):
        if decision.end_action is None or decision.end_at is None:
            return []
        await attempt_store.schedule(
            session,
            case_id=case_id,
            tenant_id=tenant_id,
            kind="end_action",
            due_at=decision.end_at,
            reason=f"{decision.reason} (end action: {decision.end_action})",
        )
        return []
    return await schedule_charge(
        session,
        decision,
        case_id=case_id,
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        details=details,
        now=now,
        history=past,
        methods=methods,
    )


async def decide(
    session: AsyncSession,
    *,
    tenant_id: str,
    opened_at: datetime,
    details: dict[str, Any],
    now: datetime,
    history: AttemptHistory,
    policy: RetryPolicy,
    methods: Sequence[StoredMethod] | None = None,
    change: MethodChange | None = None,
    excluding: Collection[str] = (),
) -> Slot | Stop:
    """Ask the scheduler about a case whose ``history`` has at least one failure; nothing is written.

    The card caps count every attempt of the tenant that charged or will charge a card, except
    ``excluding`` (the case's own pending attempts when a new plan may replace them).
    """
    last = history.last
    if last is None:
        raise ValueError("the scheduler plans from a case's failures; this case has none")
    cards = {a.method_id for a in history.attempts if a.method_id is not None}
    cards |= {m.id for m in methods or ()} | ({change.method.id} if change is not None else set())
    return next_attempt_slot(
        now=now,
        opened_at=opened_at,
        history=history,
        advice=last.advice,
        policy=policy,
        # From the billing address; when it does not say, the scheduler uses UTC and says so.
        customer_tz=customer_zone(
            details.get("customer_country"), details.get("customer_region"), zones_by_country()
        ),
        card_attempt_times=await card_records.card_attempt_times(
            session, tenant_id, now, excluding=excluding
        ),
        never_declined=await card_records.never_declined(session, tenant_id, cards),
        stats=await attempt_store.learned_stats(session, tenant_id, now),
        methods=tuple(methods or ()),
        method_id=last.method_id,
        change=change,
    )


async def schedule_charge(
    session: AsyncSession,
    decision: Slot,
    *,
    case_id: str,
    tenant_id: str,
    invoice_id: str,
    details: dict[str, Any],
    now: datetime,
    history: AttemptHistory,
    methods: Sequence[StoredMethod] | None,
) -> list[CloudEvent]:
    """Write the scheduler's slot down as a charge attempt; its ``attempt.scheduled`` event."""
    last = history.last
    attempt_id, number = await attempt_store.schedule(
        session,
        case_id=case_id,
        tenant_id=tenant_id,
        kind="charge",
        due_at=decision.due_at,
        reason=decision.reason,
        method_id=decision.method_id,
        # The scheduler reads network advice codes by brand: our attempts keep the card's.
        card_brand=_brand_of(
            decision.method_id,
            last.method_id if last else None,
            last.card_brand if last else None,
            methods,
        ),
        success_probability=decision.success_probability,
    )
    await add_to_timeline(
        session,
        case_id=case_id,
        tenant_id=tenant_id,
        at=now,
        kind="attempt",
        type="attempt.scheduled",
        note=f"attempt {number} planned for {decision.due_at:%Y-%m-%d %H:%M} UTC: {decision.reason}",
        cause_event_id=attempt_id,
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


def _brand_of(
    method_id: str | None,
    last_method: str | None,
    last_brand: str | None,
    methods: Sequence[StoredMethod] | None,
) -> str | None:
    if method_id == last_method:
        return last_brand
    return next((m.brand for m in methods or () if m.id == method_id), None)


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
        amount=details.get("amount"),
        currency=details.get("currency"),
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
