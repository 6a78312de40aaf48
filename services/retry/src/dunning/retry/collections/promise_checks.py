"""The end of a promised day: kept (paid), broken (dunning resumes), or moot (the case ended)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.recovery import CollectionsFacts, RecoveryEventType
from dunning.retry.collections import case_ops, store
from dunning.retry.domain.lifecycle import UNPAID, CaseStatus, Fact, apply_fact, release
from dunning.retry.repository import CaseRecord

_FACTS = {"paid": Fact.PAID, "void": Fact.VOIDED, "uncollectible": Fact.UNCOLLECTIBLE}


async def conclude(
    session: AsyncSession, case: CaseRecord, promise: Any, at_processor: str | None, now: datetime
) -> None:
    """Decide a claimed promise (the case is locked); ``at_processor`` is the invoice's status there."""
    facts = CollectionsFacts(source="dunning", promise_id=promise["id"], pay_by=promise["pay_by"])
    status = case.ledger.status
    if status in UNPAID and at_processor in _FACTS:
        # Settled at the processor, its webhook not here yet: the processor's word counts now.
        transition = apply_fact(case.ledger, _FACTS[str(at_processor)], now)
        kept = at_processor == "paid"
        await store.end_promise(session, promise["id"], "kept" if kept else "canceled", now)
        await case_ops.record(
            session,
            case,
            kind="promise.kept" if kept else "promise.canceled",
            note=f"promise to pay by {promise['pay_by']}: the invoice is {at_processor}",
            now=now,
            cause_id=f"{promise['id']}:end",
            facts=facts,
            event=RecoveryEventType.CASE_PROMISE_KEPT if kept else None,
            transition=transition,
        )
    elif status is CaseStatus.RECOVERED:
        await store.end_promise(session, promise["id"], "kept", now)
        await case_ops.record(
            session,
            case,
            kind="promise.kept",
            note=f"promise to pay by {promise['pay_by']} kept: the invoice is paid",
            now=now,
            cause_id=f"{promise['id']}:end",
            facts=facts,
            event=RecoveryEventType.CASE_PROMISE_KEPT,
        )
    elif status in UNPAID:
        await store.end_promise(session, promise["id"], "broken", now)
        await case_ops.record(
            session,
            case,
            kind="promise.broken",
            note=f"promise to pay by {promise['pay_by']} broken: dunning resumes",
            now=now,
            cause_id=f"{promise['id']}:end",
            facts=facts,
            event=RecoveryEventType.CASE_PROMISE_BROKEN,
            transition=release(case.ledger, "promise_to_pay"),
            cause_type="collections.promise_broken",
        )
    else:
        await store.end_promise(session, promise["id"], "canceled", now)
        await case_ops.record(
            session,
            case,
            kind="promise.canceled",
            note=f"promise to pay by {promise['pay_by']}: moot, the case is {status}",
            now=now,
            cause_id=f"{promise['id']}:end",
            facts=facts,
        )
