"""One function per kind of Stripe object: invoice, payment, subscription, method, card, dispute.

Each reads ``event.data.object`` and returns the canonical event it stands for; a field that is
required but missing or mistyped raises MalformedEvent naming it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dunning.common.events.payment import (
    DisputeData,
    InvoicePaymentData,
    PaymentEventData,
    PaymentEventType,
    PaymentMethodData,
    SubscriptionData,
    UpcomingInvoiceData,
)
from dunning.ingest.processors.base import (
    CanonicalEvent,
    MalformedEvent,
    Normalization,
    ProviderEvent,
)
from dunning.ingest.processors.stripe._fields import StripeFields
from dunning.ingest.processors.stripe._outcome import (
    card_brand,
    from_charge,
    from_invoice,
    from_payment_intent,
)

PROVIDER = "stripe"

INVOICE_EVENTS: dict[str, PaymentEventType] = {
    "invoice.payment_failed": PaymentEventType.PAYMENT_FAILED,
    "invoice.payment_action_required": PaymentEventType.PAYMENT_ACTION_REQUIRED,
    "invoice.overdue": PaymentEventType.INVOICE_OVERDUE,
    "invoice.paid": PaymentEventType.INVOICE_PAID,
    "invoice.payment_succeeded": PaymentEventType.PAYMENT_SUCCEEDED,
    "invoice.voided": PaymentEventType.INVOICE_VOIDED,
    "invoice.marked_uncollectible": PaymentEventType.INVOICE_UNCOLLECTIBLE,
}
# Success events report what was paid; every other invoice event what is still owed.
_PAID_EVENTS = frozenset({"invoice.paid", "invoice.payment_succeeded"})

PAYMENT_METHOD_CHANGES = {
    "payment_method.attached": "attached",
    "payment_method.detached": "detached",
    "payment_method.updated": "updated",
    "payment_method.automatically_updated": "automatically_updated",
}

# "incomplete_expired": the first invoice was never paid, so the subscription never started.
_ENDED_SUBSCRIPTION_STATUSES = frozenset({"canceled", "incomplete_expired"})

_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class EventSource:
    """A Stripe event being normalized, with its ``data.object`` ready to read."""

    tenant_id: str
    event: ProviderEvent
    obj: StripeFields

    def identity(self, customer_id: str | None) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "provider": PROVIDER,
            "provider_event_id": self.event.id,
            "provider_event_type": self.event.type,
            "provider_account": self.event.account,
            "livemode": self.event.livemode,
            "occurred_at": self.event.created,
            "customer_id": customer_id,
        }

    def emit(self, event_type: PaymentEventType, data: PaymentEventData) -> Normalization:
        return Normalization(events=(CanonicalEvent(type=event_type, data=data),))

    def build(self, model: type[_Model], customer_id: str | None, **fields: Any) -> _Model:
        try:
            return model(**self.identity(customer_id), **fields)
        except ValidationError as error:
            # Readers catch wrong fields first; this is the backstop that keeps a pydantic
            # error from escaping as a 500.
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise MalformedEvent(f"{self.obj.path}: {where}: {first['msg']}") from None


def invoice_event(source: EventSource) -> Normalization:
    invoice = source.obj
    _expect_object(invoice, "invoice")
    paid = source.event.type in _PAID_EVENTS
    data = source.build(
        InvoicePaymentData,
        invoice.reference("customer"),
        invoice_id=invoice.required_text("id"),
        currency=invoice.currency("currency"),
        amount=invoice.amount("amount_paid" if paid else "amount_remaining"),
        amount_due=invoice.amount("amount_due"),
        invoice_number=invoice.text("number"),
        subscription_id=_invoice_subscription(invoice),
        customer_email=invoice.text("customer_email"),
        customer_name=invoice.text("customer_name"),
        # The billing address Stripe snapshots on the invoice: where the customer's time zone
        # (and so their morning and their payday) is read from.
        customer_country=_address(invoice, "country"),
        customer_region=_address(invoice, "state"),
        invoice_status=invoice.text("status"),
        due_date=invoice.timestamp("due_date"),
        hosted_invoice_url=invoice.text("hosted_invoice_url"),
        billing_reason=invoice.text("billing_reason"),
        attempt_count=invoice.count("attempt_count"),
        next_payment_attempt=invoice.timestamp("next_payment_attempt"),
        **asdict(from_invoice(invoice)),
    )
    return source.emit(INVOICE_EVENTS[source.event.type], data)


def upcoming_invoice(source: EventSource) -> Normalization:
    """invoice.upcoming: sent days before a renewal (per the account's setting); no invoice id yet."""
    invoice = source.obj
    _expect_object(invoice, "invoice")
    customer_id = invoice.reference("customer")
    if customer_id is None:
        raise MalformedEvent(f"{invoice.path}.customer is required")
    data = source.build(
        UpcomingInvoiceData,
        customer_id,
        subscription_id=_invoice_subscription(invoice),
        customer_email=invoice.text("customer_email"),
        customer_name=invoice.text("customer_name"),
        amount_due=invoice.amount("amount_due"),
        currency=invoice.currency("currency"),
        renews_at=invoice.timestamp("next_payment_attempt") or invoice.timestamp("period_end"),
    )
    return source.emit(PaymentEventType.INVOICE_UPCOMING, data)


def _address(invoice: StripeFields, part: str) -> str | None:
    address = invoice.child("customer_address")
    value = address.text(part) if address is not None else None
    return value.strip().upper() if value and value.strip() else None


def payment_failure(source: EventSource) -> Normalization:
    """payment_intent.payment_failed and charge.failed, when they name the invoice they pay."""
    payment = source.obj
    is_charge = source.event.type == "charge.failed"
    _expect_object(payment, "charge" if is_charge else "payment_intent")
    invoice_id = _invoice_named_by(payment)
    if invoice_id is None:
        return Normalization(ignored="not an invoice payment")
    invoice = payment.expanded("invoice")
    outcome = from_charge(payment) if is_charge else from_payment_intent(payment)
    amount = payment.amount("amount")
    data = source.build(
        InvoicePaymentData,
        payment.reference("customer"),
        invoice_id=invoice_id,
        currency=payment.currency("currency"),
        # The attempt was for the whole amount; what the invoice still owes is not on it.
        amount=amount,
        amount_due=amount,
        subscription_id=_invoice_subscription(invoice) if invoice is not None else None,
        **asdict(outcome),
    )
    return source.emit(PaymentEventType.PAYMENT_FAILED, data)


def subscription_event(source: EventSource) -> Normalization:
    subscription = source.obj
    _expect_object(subscription, "subscription")
    status = subscription.required_text("status")
    if source.event.type == "customer.subscription.updated" and status not in _ENDED_SUBSCRIPTION_STATUSES:
        return Normalization(ignored="subscription update without cancellation")
    details = subscription.child("cancellation_details")
    data = source.build(
        SubscriptionData,
        subscription.reference("customer"),
        subscription_id=subscription.required_text("id"),
        status=status,
        latest_invoice_id=subscription.reference("latest_invoice"),
        # An incomplete subscription that expired was never canceled: it only ended.
        canceled_at=subscription.timestamp("canceled_at") or subscription.timestamp("ended_at"),
        cancellation_reason=details.text("reason") if details is not None else None,
    )
    return source.emit(PaymentEventType.SUBSCRIPTION_CANCELED, data)


def payment_method_event(source: EventSource) -> Normalization:
    method = source.obj
    _expect_object(method, "payment_method")
    change = PAYMENT_METHOD_CHANGES[source.event.type]
    customer_id = method.reference("customer")
    if customer_id is None and change == "detached":
        # A detached method no longer names its customer; the event's previous_attributes do.
        customer_id = _previous_customer(source.event)
    data = source.build(
        PaymentMethodData,
        customer_id,
        change=change,
        payment_method_id=method.required_text("id"),
        payment_method_kind=method.text("type"),
        **_card_details(method.child("card")),
    )
    return source.emit(PaymentEventType.PAYMENT_METHOD_UPDATED, data)


def card_expiring(source: EventSource) -> Normalization:
    """customer.source.expiring: the object is a legacy Card, or a Source of type card."""
    instrument = source.obj
    kind = instrument.text("object")
    if kind == "source":
        card, method_kind = instrument.child("card"), instrument.text("type")
    elif kind in (None, "card"):
        card, method_kind = instrument, "card"
    else:
        raise MalformedEvent(f"{instrument.path}.object must be 'card' or 'source'")
    data = source.build(
        PaymentMethodData,
        instrument.reference("customer"),
        change="expiring",
        payment_method_id=instrument.required_text("id"),
        payment_method_kind=method_kind,
        **_card_details(card),
    )
    return source.emit(PaymentEventType.CARD_EXPIRING, data)


def dispute_event(source: EventSource) -> Normalization:
    dispute = source.obj
    _expect_object(dispute, "dispute")
    charge = dispute.expanded("charge")
    intent = dispute.expanded("payment_intent")
    # A dispute names no invoice or customer itself; expanded charge or intent may.
    linked = [obj for obj in (charge, intent) if obj is not None]
    invoice_id = _invoice_named_by(dispute) or next(
        (found for obj in linked if (found := _invoice_named_by(obj))), None
    )
    customer_id = next((found for obj in linked if (found := obj.reference("customer"))), None)
    event_type = (
        PaymentEventType.DISPUTE_OPENED
        if source.event.type == "charge.dispute.created"
        else PaymentEventType.DISPUTE_CLOSED
    )
    data = source.build(
        DisputeData,
        customer_id,
        dispute_id=dispute.required_text("id"),
        charge_id=dispute.reference("charge"),
        payment_intent_id=dispute.reference("payment_intent"),
        invoice_id=invoice_id,
        amount=dispute.amount("amount"),
        currency=dispute.currency("currency"),
        reason=dispute.text("reason"),
        status=dispute.required_text("status"),
    )
    return source.emit(event_type, data)


def _expect_object(obj: StripeFields, kind: str) -> None:
    if obj.text("object") not in (None, kind):
        raise MalformedEvent(f"{obj.path}.object must be '{kind}'")


def _invoice_subscription(invoice: StripeFields) -> str | None:
    subscription = invoice.reference("subscription")
    if subscription is not None:
        return subscription
    # API 2025-03-31.basil moved it to parent.subscription_details.subscription.
    parent = invoice.child("parent")
    details = parent.child("subscription_details") if parent is not None else None
    return details.reference("subscription") if details is not None else None


def _invoice_named_by(obj: StripeFields) -> str | None:
    """The invoice a charge, intent or dispute pays: its ``invoice`` field (removed in API
    2025-03-31.basil), or ``metadata.invoice_id`` as set by platforms that bill themselves."""
    invoice_id = obj.reference("invoice")
    if invoice_id is not None:
        return invoice_id
    metadata = obj.child("metadata")
    return (metadata.text("invoice_id") or None) if metadata is not None else None


def _previous_customer(event: ProviderEvent) -> str | None:
    data = StripeFields(event.payload, "event").child("data")
    previous = data.child("previous_attributes") if data is not None else None
    return previous.reference("customer") if previous is not None else None


def _card_details(card: StripeFields | None) -> dict[str, Any]:
    if card is None:
        return {}
    exp_month = card.integer("exp_month")
    if exp_month is not None and not 1 <= exp_month <= 12:
        raise MalformedEvent(f"{card.path}.exp_month must be a month (1-12)")
    return {
        "card_brand": card_brand(card.text("brand")),
        "card_last4": card.text("last4"),
        "card_exp_month": exp_month,
        "card_exp_year": card.integer("exp_year"),
    }
