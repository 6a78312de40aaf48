"""What one instalment charge came to, written down: paid, declined (tried again or the plan
defaulted), not run (rescheduled, canceled), or moot (the invoice settled elsewhere); and a
paid-up plan completed (the case recovered)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.recovery import CollectionsFacts, RecoveryEventType
from dunning.retry.collections import adjustments, case_ops, store
from dunning.retry.collections.domain import next_try, start_of_day
from dunning.retry.collections.tables import instalments, plans, settlements
from dunning.retry.domain.lifecycle import Fact, apply_fact, release
from dunning.retry.repository import CaseRecord

_FACTS = {"paid": Fact.PAID, "void": Fact.VOIDED, "uncollectible": Fact.UNCOLLECTIBLE}


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    status: str  # paid | failed | rescheduled | canceled | settled
    note: str
    invoice_status: str | None = None  # "settled": what the processor says the invoice is
    payment_intent_id: str | None = None
    decline_code: str | None = None
    failure_code: str | None = None


def hold_reason(plan_kind: str) -> str:
    return "settlement" if plan_kind == "settlement" else "payment_plan"


async def apply(
    session: AsyncSession,
    case: CaseRecord,
    row: Any,
    outcome: ChargeOutcome,
    now: datetime,
    *,
    backoff: timedelta,
) -> None:
    """Record ``outcome`` of the claimed instalment ``row`` (the case is locked, the claim ours)."""
    plan = (await session.execute(select(plans).where(plans.c.id == row["plan_id"]).with_for_update())).one()
    facts = CollectionsFacts(
        source="dunning",
        plan_id=plan.id,
        instalments=plan.instalments,
        instalment_number=row["number"],
        instalment_amount=row["amount"],
        instalment_due=row["due_on"],
        payment_intent_id=outcome.payment_intent_id,
        decline_code=outcome.decline_code,
    )
    where = instalments.c.id == row["id"]
    if outcome.status == "rescheduled":
        await session.execute(
            update(instalments).where(where).values(status="scheduled", claimed_by=None, due_at=now + backoff)
        )
        await _timeline(session, case, "instalment.postponed", outcome.note, row, now, facts)
        return
    if outcome.status == "canceled":
        await store.end_plan(session, plan.id, "canceled", now, outcome.note)
        await _timeline(session, case, "plan.canceled", outcome.note, row, now, facts)
        return
    if outcome.status == "settled":
        await store.end_plan(session, plan.id, "canceled", now, outcome.note)
        await case_ops.record(
            session,
            case,
            kind="plan.canceled",
            note=f"instalment {row['number']} {outcome.note}: the plan ends",
            now=now,
            cause_id=f"{row['id']}:{row['tries']}",
            facts=facts,
            transition=apply_fact(case.ledger, _FACTS[str(outcome.invoice_status)], now),
        )
        return
    tries = row["tries"] + 1
    values: dict[str, Any] = {
        "tries": tries,
        "claimed_by": None,
        "payment_intent_id": outcome.payment_intent_id,
        "decline_code": outcome.decline_code,
        "failure_code": outcome.failure_code,
        "note": outcome.note,
    }
    cause = f"{row['id']}:{tries}"
    if outcome.status == "paid":
        await session.execute(update(instalments).where(where).values(status="paid", paid_at=now, **values))
        await case_ops.record(
            session,
            case,
            kind="instalment.paid",
            note=f"instalment {row['number']} of {plan.instalments} paid ({row['amount']} {row['currency']})",
            now=now,
            cause_id=cause,
            facts=facts,
            event=RecoveryEventType.CASE_INSTALMENT_PAID,
        )
        unpaid = await session.scalar(
            select(func.count()).where(instalments.c.plan_id == plan.id, instalments.c.status != "paid")
        )
        if unpaid == 0:
            # The invoice is marked paid at the processor by the next round (a network call).
            await session.execute(update(plans).where(plans.c.id == plan.id).values(status="settling"))
        return
    retry_at = next_try(start_of_day(row["due_on"], case_ops.zone_of(case.details).zone), tries)
    if retry_at is not None:
        retry_at = max(retry_at, now + timedelta(hours=1))
        await session.execute(
            update(instalments).where(where).values(status="scheduled", due_at=retry_at, **values)
        )
        note = f"instalment {row['number']} {outcome.note}; tried again {retry_at:%Y-%m-%d %H:%M} UTC"
    else:
        await session.execute(update(instalments).where(where).values(status="failed", **values))
        note = f"instalment {row['number']} {outcome.note}; no more tries"
    await case_ops.record(
        session,
        case,
        kind="instalment.failed",
        note=note,
        now=now,
        cause_id=cause,
        facts=facts,
        event=RecoveryEventType.CASE_INSTALMENT_FAILED,
    )
    if retry_at is None:
        await _default(session, case, plan, facts, now)


async def _default(
    session: AsyncSession, case: CaseRecord, plan: Any, facts: CollectionsFacts, now: datetime
) -> None:
    note = f"{plan.kind.replace('_', ' ')} defaulted: dunning resumes"
    await store.end_plan(session, plan.id, "defaulted", now, note)
    if plan.settlement_id:
        await session.execute(
            update(settlements).where(settlements.c.id == plan.settlement_id).values(status="defaulted")
        )
    await case_ops.record(
        session,
        case,
        kind="plan.defaulted",
        note=note,
        now=now,
        cause_id=f"{plan.id}:defaulted",
        facts=facts,
        event=RecoveryEventType.CASE_PLAN_DEFAULTED,
        transition=release(case.ledger, hold_reason(plan.kind)),
        cause_type="collections.plan_defaulted",
    )


async def complete(
    session: AsyncSession, case: CaseRecord, plan_id: str, invoice_status: str, now: datetime
) -> None:
    """Every instalment paid and the invoice marked paid at the processor: the case is recovered."""
    plan = (await session.execute(select(plans).where(plans.c.id == plan_id).with_for_update())).one()
    if plan.status != "settling":
        return  # another replica completed it
    note = f"{plan.kind.replace('_', ' ')} completed: {plan.amount} {plan.currency} collected"
    await store.end_plan(session, plan.id, "completed", now, note)
    if plan.settlement_id:
        await adjustments.settlement_paid(session, case, plan.settlement_id, now)
    await case_ops.record(
        session,
        case,
        kind="plan.completed",
        note=note,
        now=now,
        cause_id=f"{plan.id}:completed",
        facts=CollectionsFacts(source="dunning", plan_id=plan.id, instalments=plan.instalments),
        event=RecoveryEventType.CASE_PLAN_COMPLETED,
        transition=apply_fact(case.ledger, _FACTS.get(invoice_status, Fact.PAID), now),
        cause_type="collections.plan_completed",
    )


async def _timeline(
    session: AsyncSession,
    case: CaseRecord,
    kind: str,
    note: str,
    row: Any,
    now: datetime,
    facts: CollectionsFacts,
) -> None:
    await case_ops.record(
        session, case, kind=kind, note=f"instalment {row['number']}: {note}", now=now,
        cause_id=f"{row['id']}:{row['tries']}:{kind}:{now.isoformat()}", facts=facts,
    )  # fmt: skip
