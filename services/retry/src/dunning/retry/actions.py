"""Operator actions on a case (pause, resume, write off, retry now), in the caller's transaction.

The lifecycle decides what an action means (``domain.lifecycle.apply_action``); retry-now also
respects the card networks' caps, because an operator's click counts like any other attempt.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.envelope import CloudEvent
from dunning.common.events.recovery import RecoveryEventType
from dunning.retry import attempt_store, card_records, planning, repository
from dunning.retry.case_events import case_event
from dunning.retry.domain.caps import check_card_caps, check_case_limits
from dunning.retry.domain.lifecycle import Action, CaseStatus, apply_action
from dunning.retry.domain.policy import RetryMode


class CaseNotFound(LookupError):
    pass


class ActionRefused(Exception):
    """The action makes no sense for the case as it is (409)."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    case_id: str
    status: str
    note: str
    events: list[CloudEvent]


async def act(
    session: AsyncSession, *, tenant_id: str, case_id: str, action: Action, now: datetime, actor: str
) -> ActionResult:
    if await repository.get_case(session, tenant_id=tenant_id, case_id=case_id) is None:
        raise CaseNotFound(case_id)
    record = await repository.lock_case(session, case_id)
    transition = apply_action(record.ledger, action, now)
    if transition.refused:
        raise ActionRefused(transition.note)
    await repository.save(session, record.id, transition.ledger, {})
    await repository.add_to_timeline(
        session,
        case_id=record.id,
        tenant_id=tenant_id,
        at=now,
        kind="action",
        type=f"action.{action}",
        note=f"{transition.note} (by {actor})",
        cause_event_id=None,
    )
    events = [
        case_event(
            RecoveryEventType(name),
            case_id=record.id,
            tenant_id=tenant_id,
            invoice_id=record.invoice_id,
            ledger=transition.ledger,
            details=record.details,
            note=transition.note,
            occurred_at=now,
            cause_id=f"{action}:{secrets.token_hex(6)}",
            cause_type=f"action.{action}",
        )
        for name in transition.events
    ]
    if transition.ledger.status is not CaseStatus.OPEN:
        await attempt_store.cancel_pending(session, record.id, transition.note)
    elif action is Action.RESUME:
        events += await planning.plan_next(
            session,
            case_id=record.id,
            tenant_id=tenant_id,
            invoice_id=record.invoice_id,
            ledger=transition.ledger,
            details=record.details,
            now=now,
        )
    return ActionResult(record.id, transition.ledger.status.value, transition.note, events)


async def retry_now(
    session: AsyncSession, *, tenant_id: str, case_id: str, now: datetime, actor: str
) -> ActionResult:
    """Bring the next charge forward to now (or plan one), within the card networks' caps."""
    if await repository.get_case(session, tenant_id=tenant_id, case_id=case_id) is None:
        raise CaseNotFound(case_id)
    record = await repository.lock_case(session, case_id)
    if record.ledger.status is not CaseStatus.OPEN:
        raise ActionRefused(f"retry refused: the case is {record.ledger.status}")
    if await attempt_store.running(session, case_id):
        raise ActionRefused("retry refused: an attempt is being made right now")
    policy = await planning.tenant_policy(session, tenant_id)
    if policy.mode is RetryMode.OBSERVE:
        raise ActionRefused("retry refused: the tenant's policy is observe (the processor retries)")
    past = await attempt_store.history(session, case_id)
    assert record.ledger.opened_at is not None
    limits = check_case_limits(
        attempts_made=len(past), opened_at=record.ledger.opened_at, at=now, policy=policy
    )
    if not limits.allowed:
        raise ActionRefused(f"retry refused: {limits.reason}")
    last = past.last
    method = last.method_id if last else None
    # The scheduled charge being brought forward is this retry: it must not count against itself.
    pending = [p.id for p in await attempt_store.lock_pending(session, case_id)]
    times = (await card_records.card_attempt_times(session, tenant_id, now, excluding=pending)).get(
        method or "", []
    )
    caps = check_card_caps(times, last.card_brand if last else None, now, policy.card_caps)
    if not caps.allowed:
        raise ActionRefused(f"retry refused: {caps.reason}")
    note = f"retry now requested (by {actor})"
    if not await attempt_store.bring_forward(session, case_id, now=now, note=note):
        await attempt_store.schedule(
            session,
            case_id=case_id,
            tenant_id=tenant_id,
            kind="charge",
            due_at=now,
            reason=note,
            method_id=method,
        )
    await repository.add_to_timeline(
        session,
        case_id=case_id,
        tenant_id=tenant_id,
        at=now,
        kind="action",
        type="action.retry",
        note=note,
        cause_event_id=None,
    )
    return ActionResult(case_id, record.ledger.status.value, note, [])
