"""Payment events → case transitions → recovery events, inside the consumer's transaction."""

from __future__ import annotations

from typing import Any, cast

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.clock import Clock
from dunning.common.consumer import PermanentFailure
from dunning.common.events.envelope import CloudEvent
from dunning.common.events.payment import (
    DATA_MODELS,
    DisputeData,
    InvoicePaymentData,
    PaymentEventData,
    PaymentEventType,
    PaymentMethodData,
    SubscriptionData,
)
from dunning.common.events.recovery import RecoveryEventType
from dunning.common.events.topics import RECOVERY_EVENTS_TOPIC
from dunning.common.outbox import enqueue
from dunning.retry import attempt_store, message_timeline, planning, repository
from dunning.retry.case_events import case_event
from dunning.retry.domain.lifecycle import UNPAID, CaseStatus, Fact, fact_of
from dunning.retry.domain.lifecycle import apply_fact as lifecycle_apply_fact
from dunning.retry.method_changes import apply_method_event
from dunning.retry.tables import SCHEMA

log = structlog.get_logger(__name__)

CONSUMER_NAME = "retry-cases"
SOURCE = "/dunning/retry"


def canonical_type(cloudevents_type: str) -> str:
    """``dunning.payment.failed.v1`` → ``payment.failed``."""
    return cloudevents_type.removeprefix("dunning.").rsplit(".v", 1)[0]


class PaymentEventHandler:
    """The consumer's handler: one payment event, applied to its case in the consumer's transaction."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def __call__(self, session: AsyncSession, event: CloudEvent) -> None:
        message = message_timeline.notification_kind(event.type)
        if message is not None:
            await message_timeline.record(session, event, message)
            return
        try:
            kind = PaymentEventType(canonical_type(event.type))
        except ValueError:
            log.info("payment event type not for retry", type=event.type, event_id=event.id)
            return
        try:
            data = cast(PaymentEventData, DATA_MODELS[kind].model_validate(event.data))
        except ValidationError as exc:
            raise PermanentFailure(f"{event.type} {event.id} does not match its schema: {exc}") from exc
        if data.tenant_id != event.tenantid:
            raise PermanentFailure(
                f"{event.id}: data.tenant_id {data.tenant_id} != tenantid {event.tenantid}"
            )
        if isinstance(data, PaymentMethodData):
            # Keyed by customer, not invoice: it may concern several cases, or none.
            for changed in await apply_method_event(session, event, kind, data, self._clock.now()):
                await enqueue(session, SCHEMA, RECOVERY_EVENTS_TOPIC, changed)
            return
        invoice_id = _invoice_of(data)
        dispute_status = data.status if isinstance(data, DisputeData) else None
        fact = fact_of(kind.value, dispute_status=dispute_status)
        if invoice_id is None or fact is None:
            return  # unlinked disputes and upcoming invoices: nothing for the case ledger
        record = await repository.lock_or_create(
            session, tenant_id=data.tenant_id, invoice_id=invoice_id, provider=data.provider
        )
        # A failed or authentication-blocked charge is an attempt; "overdue" is only a date passing.
        is_charge = kind in (PaymentEventType.PAYMENT_FAILED, PaymentEventType.PAYMENT_ACTION_REQUIRED)
        failure = _failure_facts(data) if fact is Fact.FAILED and is_charge else None
        if failure is not None and await attempt_store.is_known_charge(
            session, record.id, failure.get("charge_id")
        ):
            await repository.add_to_timeline(
                session,
                case_id=record.id,
                tenant_id=data.tenant_id,
                at=data.occurred_at,
                kind="fact",
                type=kind.value,
                note="the same failed charge, reported again",
                cause_event_id=event.id,
            )
            return
        transition = lifecycle_apply_fact(record.ledger, fact, data.occurred_at)
        details = {**record.details, **_details(data, fact, record.details)}
        await repository.save(session, record.id, transition.ledger, details)
        await repository.add_to_timeline(
            session,
            case_id=record.id,
            tenant_id=data.tenant_id,
            at=data.occurred_at,
            kind="fact",
            type=kind.value,
            note=transition.note,
            cause_event_id=event.id,
            data={k: v for k, v in event.data.items() if k in _TIMELINE_FIELDS},
        )
        outgoing = [
            case_event(
                RecoveryEventType(name),
                case_id=record.id,
                tenant_id=data.tenant_id,
                invoice_id=invoice_id,
                ledger=transition.ledger,
                details=details,
                note=transition.note,
                occurred_at=data.occurred_at,
                cause_id=event.id,
                cause_type=kind.value,
            )
            for name in transition.events
        ]
        if failure is not None and transition.ledger.status in UNPAID:
            await attempt_store.record_processor_failure(
                session, case_id=record.id, tenant_id=data.tenant_id, at=data.occurred_at, facts=failure
            )
        if transition.ledger.status is not CaseStatus.OPEN:
            await attempt_store.cancel_pending(session, record.id, transition.note)
        elif fact in (Fact.FAILED, Fact.DISPUTE_WON):
            outgoing += await planning.plan_next(
                session,
                case_id=record.id,
                tenant_id=data.tenant_id,
                invoice_id=invoice_id,
                ledger=transition.ledger,
                details=details,
                now=self._clock.now(),
            )
        for outgoing_event in outgoing:
            await enqueue(session, SCHEMA, RECOVERY_EVENTS_TOPIC, outgoing_event)


def _failure_facts(data: PaymentEventData) -> dict[str, Any] | None:
    if not isinstance(data, InvoicePaymentData):
        return None
    return {
        "charge_id": data.charge_id,
        "payment_method_id": data.payment_method_id,
        "card_brand": data.card_brand,
        "decline_code": data.decline_code,
        "failure_code": data.failure_code,
        "advice_code": data.advice_code,
        "network_advice_code": data.network_advice_code,
    }


_TIMELINE_FIELDS = frozenset(
    {
        "amount",
        "currency",
        "decline_code",
        "failure_code",
        "advice_code",
        "network_advice_code",
        "payment_method_id",
        "attempt_count",
        "status",
        "reason",
        "provider_event_id",
        "provider_event_type",
    }
)


def _invoice_of(data: PaymentEventData) -> str | None:
    if isinstance(data, InvoicePaymentData):
        return data.invoice_id
    if isinstance(data, SubscriptionData):
        return data.latest_invoice_id
    if isinstance(data, DisputeData):
        return data.invoice_id
    return None


def _details(data: PaymentEventData, fact: Fact, known: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {"customer_id": data.customer_id, "provider_account": data.provider_account}
    if isinstance(data, InvoicePaymentData):
        details |= {
            "subscription_id": data.subscription_id,
            "hosted_invoice_url": data.hosted_invoice_url,
            "customer_email": data.customer_email,
            "customer_name": data.customer_name,
            "customer_country": data.customer_country,
            "customer_region": data.customer_region,
            "invoice_number": data.invoice_number,
            "due_date": data.due_date,
        }
        # The amount owed and the decline come from failures; a success reports what was paid.
        if fact is Fact.FAILED or known.get("amount") is None:
            details |= {"amount": data.amount, "currency": data.currency}
        if fact is Fact.FAILED:
            details |= {"decline_code": data.decline_code, "payment_method_id": data.payment_method_id}
    return {k: v for k, v in details.items() if v is not None}
