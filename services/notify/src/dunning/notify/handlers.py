"""Payment and recovery events → escalations, invoice facts and contact details, in the
consumer's transaction. Case transitions start, pause, resume or stop a case's escalation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.clock import Clock
from dunning.common.consumer import PermanentFailure
from dunning.common.events.envelope import CloudEvent
from dunning.common.events.payment import DATA_MODELS as PAYMENT_MODELS
from dunning.common.events.payment import (
    InvoicePaymentData,
    PaymentEventType,
    PaymentMethodData,
    UpcomingInvoiceData,
)
from dunning.common.events.recovery import DATA_MODELS as RECOVERY_MODELS
from dunning.common.events.recovery import AttemptEventData, CaseEventData, RecoveryEventType
from dunning.notify import delivery_store, escalation_events, pre_dunning, repository
from dunning.notify.domain.escalation import SegmentFacts, choose_policy, next_level
from dunning.notify.policy_schema import PolicyBody, segment_rules, to_policy

log = structlog.get_logger(__name__)

CONSUMER_NAME = "notify-escalations"

_STOPS = {
    RecoveryEventType.CASE_RECOVERED: "the invoice was paid",
    RecoveryEventType.CASE_CLOSED: "the case was closed",
    RecoveryEventType.CASE_WRITTEN_OFF: "the debt was written off",
}
_PAUSES = {RecoveryEventType.CASE_PAUSED, RecoveryEventType.CASE_DISPUTED}


def canonical_type(cloudevents_type: str) -> str:
    """``dunning.case.opened.v1`` → ``case.opened``."""
    return cloudevents_type.removeprefix("dunning.").rsplit(".v", 1)[0]


def _parse(model: type[BaseModel], event: CloudEvent) -> Any:
    try:
        data = model.model_validate(event.data)
    except ValidationError as exc:
        raise PermanentFailure(f"{event.type} {event.id} does not match its schema: {exc}") from exc
    if getattr(data, "tenant_id", None) != event.tenantid:
        raise PermanentFailure(f"{event.id}: data.tenant_id does not match tenantid {event.tenantid}")
    return data


class NotifyEventHandler:
    """The consumer's handler for both topics it reads."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def __call__(self, session: AsyncSession, event: CloudEvent) -> None:
        name = canonical_type(event.type)
        if name in PaymentEventType._value2member_map_:
            kind = PaymentEventType(name)
            await self._on_payment_event(session, event, kind, _parse(PAYMENT_MODELS[kind], event))
        elif name in RecoveryEventType._value2member_map_:
            rkind = RecoveryEventType(name)
            await self._on_recovery_event(session, event, rkind, _parse(RECOVERY_MODELS[rkind], event))
        else:
            log.info("event type not for notify", type=event.type, event_id=event.id)

    async def _on_payment_event(
        self, session: AsyncSession, event: CloudEvent, kind: PaymentEventType, data: Any
    ) -> None:
        if isinstance(data, InvoicePaymentData):
            await repository.record_invoice_facts(
                session,
                tenant_id=data.tenant_id,
                invoice_id=data.invoice_id,
                at=data.occurred_at,
                customer_id=data.customer_id,
                invoice_number=data.invoice_number,
                due_date=data.due_date.date() if data.due_date else None,
                hosted_invoice_url=data.hosted_invoice_url,
                amount=data.amount,
                currency=data.currency,
            )
            if data.customer_id:
                await repository.merge_contact_layer(
                    session,
                    tenant_id=data.tenant_id,
                    customer_id=data.customer_id,
                    layer="observed",
                    values={
                        "email": data.customer_email,
                        "name": data.customer_name,
                        "country": data.customer_country,
                        "region": data.customer_region,
                        "provider_account": data.provider_account,
                    },
                )
        elif kind is PaymentEventType.CARD_EXPIRING and isinstance(data, PaymentMethodData):
            await pre_dunning.card_expiring(session, data, event.id)
        elif isinstance(data, UpcomingInvoiceData):
            await pre_dunning.upcoming_renewal(session, data, event.id)

    async def _on_recovery_event(
        self, session: AsyncSession, event: CloudEvent, kind: RecoveryEventType, data: Any
    ) -> None:
        await repository.record_case_history(
            session,
            tenant_id=data.tenant_id,
            case_id=data.case_id,
            event_id=event.id,
            type=kind.value,
            at=data.occurred_at,
            summary=_summary(data),
        )
        if isinstance(data, AttemptEventData):
            return
        case = cast(CaseEventData, data)
        await repository.record_invoice_facts(
            session,
            tenant_id=case.tenant_id,
            invoice_id=case.invoice_id,
            at=case.occurred_at,
            customer_id=case.customer_id,
            hosted_invoice_url=case.hosted_invoice_url,
            amount=case.amount,
            currency=case.currency,
        )
        if case.customer_id:
            await repository.merge_contact_layer(
                session,
                tenant_id=case.tenant_id,
                customer_id=case.customer_id,
                layer="observed",
                values={"email": case.customer_email, "name": case.customer_name},
            )
        row = await repository.escalation_for_update(session, case.tenant_id, case.case_id)
        if row is None:
            # A replayed or reordered case.opened (a DLQ replay, a republish) after the case ended
            # must not start messages about a settled invoice.
            ended = await repository.case_ended(session, case.case_id)
            if (kind is RecoveryEventType.CASE_OPENED or case.status == "open") and not ended:
                await self._open(session, case, event.id)
            return
        if row["status"] in ("stopped",):
            return  # a stopped escalation never restarts: a reopened invoice is a new story
        if kind in _STOPS:
            await self._stop(session, row, case, _STOPS[kind])
        elif kind in _PAUSES and row["status"] == "active":
            await self._pause(session, row, case)
        elif kind is RecoveryEventType.CASE_RESUMED and row["status"] == "paused":
            await self._resume(session, row, case)
        else:
            await repository.update_escalation(
                session, case.case_id, case_status=case.status, last_case_event_at=case.occurred_at
            )

    async def _open(self, session: AsyncSession, case: CaseEventData, cause_id: str) -> None:
        policy_body = await repository.policy_of(session, case.tenant_id)
        contact = (
            await repository.contact_row(session, case.tenant_id, case.customer_id)
            if case.customer_id
            else None
        )
        override = dict(contact["override"]) if contact else {}
        facts = SegmentFacts(
            amount=case.amount or 0,
            currency=case.currency or "USD",
            customer_type=override.get("customer_type"),
            customer_value=override.get("customer_value"),
            metadata=override.get("metadata") or {},
        )
        name, why = choose_policy(
            {k: to_policy(v) for k, v in policy_body.policies.items()}, segment_rules(policy_body), facts
        )
        chosen: PolicyBody = policy_body.policies[name]
        opened_at = case.opened_at or case.occurred_at
        first = next_level(to_policy(chosen), reached=None, opened_at=opened_at, previous_sent_at=None)
        assert first is not None  # a policy has at least one level
        status, note = (
            ("active", "escalating") if case.status == "open" else ("paused", f"case is {case.status}")
        )
        await repository.create_escalation(
            session,
            case_id=case.case_id,
            tenant_id=case.tenant_id,
            invoice_id=case.invoice_id,
            customer_id=case.customer_id,
            status=status,
            status_note=note,
            case_status=case.status,
            pause_reasons=list(case.pause_reasons),
            policy_name=name,
            policy=chosen.model_dump(mode="json"),
            policy_note=why,
            opened_at=opened_at,
            next_level=first.index,
            next_due_at=first.due_at,
            next_note=first.why,
            last_case_event_at=case.occurred_at,
        )
        await _announce(
            session,
            case,
            level=None,
            previous=None,
            status=status,
            note=f"escalation started: {why}; first level {first.level.name!r} due {first.why}",
            next_due_at=first.due_at,
            cause=cause_id,
        )

    async def _stop(self, session: AsyncSession, row: Any, case: CaseEventData, why: str) -> None:
        canceled = await delivery_store.cancel_case(session, case.case_id, f"not sent: {why}")
        await repository.update_escalation(
            session,
            case.case_id,
            status="stopped",
            status_note=why,
            case_status=case.status,
            next_due_at=None,
            next_level=None,
            last_case_event_at=case.occurred_at,
        )
        await _announce(
            session,
            case,
            level=None,
            previous=row["reached_level"],
            status="stopped",
            note=f"escalation stopped: {why}"
            + (f"; {canceled} planned message(s) canceled" if canceled else ""),
            next_due_at=None,
        )

    async def _pause(self, session: AsyncSession, row: Any, case: CaseEventData) -> None:
        reasons = ", ".join(case.pause_reasons) or case.status
        await delivery_store.hold_case(session, case.case_id, f"held: the case is paused ({reasons})")
        await repository.update_escalation(
            session,
            case.case_id,
            status="paused",
            status_note=f"paused ({reasons})",
            case_status=case.status,
            pause_reasons=list(case.pause_reasons),
            paused_at=case.occurred_at,
            last_case_event_at=case.occurred_at,
        )
        await _announce(
            session,
            case,
            level=row["reached_level"],
            previous=row["reached_level"],
            status="paused",
            note=f"escalation paused ({reasons})",
            next_due_at=None,
        )

    async def _resume(self, session: AsyncSession, row: Any, case: CaseEventData) -> None:
        # The schedule moves by the time spent paused: a ten-day dispute does not turn the day-14
        # final notice into a message the morning after it ends.
        paused_for = max(case.occurred_at - (row["paused_at"] or case.occurred_at), timedelta(0))
        next_due = row["next_due_at"] + paused_for if row["next_due_at"] is not None else None
        await delivery_store.release_case(
            session, case.case_id, at=case.occurred_at, note="released: case resumed"
        )
        await repository.update_escalation(
            session,
            case.case_id,
            status="active",
            status_note="escalating",
            case_status=case.status,
            pause_reasons=[],
            paused_at=None,
            next_due_at=next_due,
            last_case_event_at=case.occurred_at,
        )
        await _announce(
            session,
            case,
            level=row["reached_level"],
            previous=row["reached_level"],
            status="active",
            note=f"escalation resumed after {paused_for}; the schedule moved by as much",
            next_due_at=next_due,
        )


async def _announce(
    session: AsyncSession,
    case: CaseEventData,
    *,
    level: int | None,
    previous: int | None,
    status: str,
    note: str,
    next_due_at: datetime | None,
    cause: str | None = None,
) -> None:
    """escalation.level_changed for a change a case event caused (start, pause, resume, stop)."""
    await escalation_events.level_changed(
        session,
        tenant_id=case.tenant_id,
        case_id=case.case_id,
        invoice_id=case.invoice_id,
        customer_id=case.customer_id,
        level=level,
        level_name=None,
        previous=previous,
        status=status,
        note=note,
        next_due_at=next_due_at,
        at=case.occurred_at,
        cause=cause or case.cause_event_id or case.case_id,
    )


def _summary(data: Any) -> dict[str, Any]:
    keep = (
        "status",
        "note",
        "amount",
        "currency",
        "attempt_number",
        "payment_method_id",
        "due_at",
        "reason",
        "decline_code",
        "failure_code",
        "resolution",
    )
    dumped = data.model_dump(mode="json")
    return {k: dumped[k] for k in keep if dumped.get(k) is not None}
