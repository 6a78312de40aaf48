"""A collections step's effect on its case, written once: the ledger (pause, resume, recover,
close), the timeline entry, and the recovery events through the outbox, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.recovery import CollectionsFacts, RecoveryEventType
from dunning.common.events.topics import RECOVERY_EVENTS_TOPIC
from dunning.common.outbox import enqueue
from dunning.common.zones import customer_zone, zones_by_country
from dunning.retry import attempt_store, planning, repository
from dunning.retry.case_events import case_event
from dunning.retry.domain.lifecycle import CaseStatus, Transition
from dunning.retry.domain.local_time import CustomerZone, resolve_zone
from dunning.retry.repository import CaseRecord
from dunning.retry.tables import SCHEMA

TIMELINE_KIND = "collections"


def zone_of(details: dict[str, Any]) -> CustomerZone:
    """The customer's zone from the billing address (UTC, with a note, when it does not say)."""
    return resolve_zone(
        customer_zone(details.get("customer_country"), details.get("customer_region"), zones_by_country())
    )


async def record(
    session: AsyncSession,
    case: CaseRecord,
    *,
    kind: str,
    note: str,
    now: datetime,
    cause_id: str,
    facts: CollectionsFacts,
    event: RecoveryEventType | None = None,
    transition: Transition | None = None,
    cause_type: str | None = None,
) -> CaseRecord:
    """Write ``kind`` (e.g. ``promise.made``) on the timeline, announce it, apply ``transition``.

    The announcement comes first, then the case events of the transition (``case.paused``,
    ``case.resumed``, ``case.recovered``...), whose ``cause_type`` says why (``collections.<kind>``
    unless given), so notify and the tenant read e.g. ``case.resumed`` caused by a broken promise.
    A case that stops running loses its planned attempts; a case that runs again gets its next one.
    """
    ledger = transition.ledger if transition is not None else case.ledger
    if transition is not None:
        await repository.save(session, case.id, ledger, {})
    await repository.add_to_timeline(
        session,
        case_id=case.id,
        tenant_id=case.tenant_id,
        at=now,
        kind=TIMELINE_KIND,
        type=kind,
        note=note,
        cause_event_id=cause_id,
        data=facts.model_dump(mode="json", exclude_none=True),
    )
    why = cause_type or f"collections.{kind}"
    names = ([event.value] if event is not None else []) + list(transition.events if transition else ())
    outgoing = [
        case_event(
            RecoveryEventType(name),
            case_id=case.id,
            tenant_id=case.tenant_id,
            invoice_id=case.invoice_id,
            ledger=ledger,
            details=case.details,
            note=note,
            occurred_at=now,
            cause_id=cause_id,
            cause_type=why,
            collections=facts,
        )
        for name in names
    ]
    if transition is not None and transition.changed:
        if ledger.status is not CaseStatus.OPEN:
            await attempt_store.cancel_pending(session, case.id, note)
        else:
            outgoing += await planning.plan_next(
                session,
                case_id=case.id,
                tenant_id=case.tenant_id,
                invoice_id=case.invoice_id,
                ledger=ledger,
                details=case.details,
                now=now,
            )
    for outgoing_event in outgoing:
        await enqueue(session, SCHEMA, RECOVERY_EVENTS_TOPIC, outgoing_event)
    return CaseRecord(case.id, case.tenant_id, case.invoice_id, ledger, case.details)
