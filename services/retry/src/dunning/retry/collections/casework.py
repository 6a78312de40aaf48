"""What operators do through the API: answer a customer's dispute, propose and approve (four eyes)
or reject a settlement, write off with a reason, keep notes. In the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.recovery import CollectionsFacts, RecoveryEventType
from dunning.retry import repository
from dunning.retry.collections import adjustments, case_ops, store
from dunning.retry.collections.domain import CollectionsRefused
from dunning.retry.collections.tables import case_notes, customer_disputes, settlements
from dunning.retry.domain.lifecycle import UNPAID, Action, Transition, apply_action, hold, release
from dunning.retry.repository import CaseRecord


async def lock_case(session: AsyncSession, tenant_id: str, case_id: str) -> CaseRecord:
    if await repository.get_case(session, tenant_id=tenant_id, case_id=case_id) is None:
        raise CollectionsRefused("case_not_found", "no case with this id")
    return await repository.lock_case(session, case_id)


async def _end_arrangements(session: AsyncSession, case: CaseRecord, now: datetime, why: str) -> set[str]:
    """End a running promise and plan; the hold reasons they had."""
    reasons = set()
    promise = await store.active_promise(session, case.id)
    if promise is not None:
        await store.end_promise(session, promise.id, "canceled", now)
        reasons.add("promise_to_pay")
    plan = await store.active_plan(session, case.id)
    if plan is not None:
        await store.end_plan(session, plan.id, "canceled", now, why)
        reasons.add("settlement" if plan.kind == "settlement" else "payment_plan")
    return reasons


async def resolve_dispute(
    session: AsyncSession,
    *,
    tenant_id: str,
    case_id: str,
    dispute_id: str,
    outcome: str,
    note: str,
    actor: str,
    now: datetime,
) -> str:
    """``upheld``: the customer is right, the case is written off (reason dispute_upheld);
    ``rejected``: dunning resumes. The case's status after."""
    case = await lock_case(session, tenant_id, case_id)
    row = (
        await session.execute(
            select(customer_disputes)
            .where(customer_disputes.c.id == dispute_id, customer_disputes.c.case_id == case_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise CollectionsRefused("dispute_not_found", "no dispute with this id on this case")
    if row.status != "open":
        raise CollectionsRefused("dispute_resolved", f"the dispute is already {row.status}")
    await session.execute(
        update(customer_disputes)
        .where(customer_disputes.c.id == dispute_id)
        .values(status=outcome, resolved_at=now, resolved_by=actor, resolution_note=note)
    )
    facts = CollectionsFacts(
        source="operator", dispute_id=dispute_id, dispute_reason=row.reason, dispute_outcome=outcome
    )
    transition: Transition
    if outcome == "upheld" and case.ledger.status in UNPAID:
        await _end_arrangements(session, case, now, "dispute upheld")
        transition = apply_action(case.ledger, Action.WRITE_OFF, now)
        await adjustments.write_off(session, case, reason="dispute_upheld", note=note, actor=actor, now=now)
    else:
        transition = release(case.ledger, "customer_dispute")
    updated = await case_ops.record(
        session,
        case,
        kind="dispute.resolved",
        note=f"dispute ({row.reason}) {outcome} by {actor}: {note}",
        now=now,
        cause_id=f"{dispute_id}:{outcome}",
        facts=facts,
        event=RecoveryEventType.CASE_DISPUTE_RESOLVED,
        transition=transition,
        cause_type=f"collections.dispute_{outcome}",
    )
    return updated.ledger.status.value


async def write_off_reason(
    session: AsyncSession, case_id: str, *, reason: str, note: str | None, actor: str, now: datetime
) -> None:
    """After the write-off action: its reason, for accounting; running arrangements end."""
    case = await repository.lock_case(session, case_id)
    await _end_arrangements(session, case, now, "written off")
    await adjustments.write_off(session, case, reason=reason, note=note, actor=actor, now=now)


async def propose_settlement(
    session: AsyncSession,
    *,
    tenant_id: str,
    case_id: str,
    amount: int,
    reason: str,
    key_id: str,
    now: datetime,
) -> Any:
    case = await lock_case(session, tenant_id, case_id)
    if case.ledger.status not in UNPAID:
        raise CollectionsRefused("case_not_open", f"the case is {case.ledger.status}: nothing to settle")
    owed, currency = case.details.get("amount"), case.details.get("currency")
    if not owed or not currency:
        raise CollectionsRefused("amount_unknown", "the amount owed is not known yet")
    if not 0 < amount < int(owed):
        raise CollectionsRefused(
            "invalid_amount", f"a settlement is more than 0 and less than {owed} {currency}"
        )
    pending = await session.scalar(
        select(settlements.c.id).where(
            settlements.c.case_id == case_id, settlements.c.status.in_(("pending_approval", "approved"))
        )
    )
    if pending is not None:
        raise CollectionsRefused("settlement_pending", f"settlement {pending} is already under way")
    settlement_id = store.new_id("stl")
    values = {
        "id": settlement_id,
        "case_id": case_id,
        "tenant_id": tenant_id,
        "amount": amount,
        "original_amount": int(owed),
        "currency": str(currency),
        "reason": reason,
        "status": "pending_approval",
        "proposed_by": key_id,
        "created_at": now,
    }
    await session.execute(settlements.insert().values(**values))
    await case_ops.record(
        session,
        case,
        kind="settlement.proposed",
        note=f"settlement of {amount} {currency} (of {owed}) proposed by api key {key_id}: {reason}",
        now=now,
        cause_id=settlement_id,
        facts=CollectionsFacts(source="operator", settlement_id=settlement_id, settlement_amount=amount),
        event=RecoveryEventType.CASE_SETTLEMENT_PROPOSED,
    )
    return values


async def decide_settlement(
    session: AsyncSession,
    *,
    tenant_id: str,
    case_id: str,
    settlement_id: str,
    approve: bool,
    note: str | None,
    key_id: str,
    now: datetime,
) -> Any:
    """Approve (another key than the proposer's: four eyes) or reject. Approved, the settled
    amount is charged as a one-instalment plan due now; dunning holds meanwhile."""
    case = await lock_case(session, tenant_id, case_id)
    row = (
        await session.execute(
            select(settlements)
            .where(settlements.c.id == settlement_id, settlements.c.case_id == case_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise CollectionsRefused("settlement_not_found", "no settlement with this id on this case")
    if row.status != "pending_approval":
        raise CollectionsRefused("settlement_decided", f"the settlement is already {row.status}")
    if approve and row.proposed_by == key_id:
        raise CollectionsRefused(
            "four_eyes", "a settlement is approved with another API key than the proposer's"
        )
    if approve and case.ledger.status not in UNPAID:
        raise CollectionsRefused("case_not_open", f"the case is {case.ledger.status}: nothing to settle")
    status = "approved" if approve else "rejected"
    await session.execute(
        update(settlements)
        .where(settlements.c.id == settlement_id)
        .values(status=status, decided_by=key_id, decision_note=note, decided_at=now)
    )
    facts = CollectionsFacts(source="operator", settlement_id=settlement_id, settlement_amount=row.amount)
    transition = None
    if approve:
        ended = await _end_arrangements(session, case, now, "replaced by a settlement")
        transition = hold(case.ledger, "settlement")
        for reason in ended - {"settlement"}:
            step = release(transition.ledger, reason)
            transition = Transition(step.ledger, transition.events + step.events, transition.note)
        due = now.astimezone(case_ops.zone_of(case.details).zone).date()
        plan_id = await store.start_plan_rows(
            session, case=case, kind="settlement", amounts=[row.amount], due=[(due, now)],
            currency=row.currency, source="operator", actor=f"api key {key_id}", now=now,
            settlement_id=settlement_id,
        )  # fmt: skip
        facts = facts.model_copy(update={"plan_id": plan_id, "instalments": 1})
    await case_ops.record(
        session,
        case,
        kind=f"settlement.{status}",
        note=f"settlement of {row.amount} {row.currency} {status} by api key {key_id}"
        + (f": {note}" if note else ""),
        now=now,
        cause_id=f"{settlement_id}:{status}",
        facts=facts,
        event=RecoveryEventType.CASE_SETTLEMENT_APPROVED
        if approve
        else RecoveryEventType.CASE_SETTLEMENT_REJECTED,
        transition=transition,
    )
    return {**row._mapping, "status": status, "decided_by": key_id, "decision_note": note, "decided_at": now}


async def add_note(
    session: AsyncSession, *, tenant_id: str, case_id: str, kind: str, body: str, author: str, now: datetime
) -> dict[str, Any]:
    case = await lock_case(session, tenant_id, case_id)
    note_id = store.new_id("note")
    values: dict[str, Any] = {
        "id": note_id,
        "case_id": case_id,
        "tenant_id": tenant_id,
        "kind": kind,
        "body": body,
        "author": author,
        "created_at": now,
    }
    await session.execute(case_notes.insert().values(**values))
    shown = body if len(body) <= 200 else body[:200] + "…"
    await repository.add_to_timeline(
        session, case_id=case.id, tenant_id=tenant_id, at=now, kind=case_ops.TIMELINE_KIND,
        type=f"note.{kind}", note=f"{kind} by {author}: {shown}", cause_event_id=note_id,
    )  # fmt: skip
    return values


async def notes_of(session: AsyncSession, *, tenant_id: str, case_id: str) -> list[Any]:
    if await repository.get_case(session, tenant_id=tenant_id, case_id=case_id) is None:
        raise CollectionsRefused("case_not_found", "no case with this id")
    query = select(case_notes).where(case_notes.c.case_id == case_id).order_by(case_notes.c.created_at)
    return [r._mapping for r in await session.execute(query)]
