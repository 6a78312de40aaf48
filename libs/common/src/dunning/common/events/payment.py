"""Canonical events on ``dunning.payment-events.v1``: what a processor told us, processor-neutral.

Every event carries the same identity block (tenant, provider, provider event id, when it
happened). The rest depends on what the event is about: an invoice payment, a payment method,
a subscription or a dispute. Amounts are integer minor units with an ISO 4217 code.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class PaymentEventType(StrEnum):
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_ACTION_REQUIRED = "payment.action_required"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    INVOICE_OVERDUE = "invoice.overdue"
    INVOICE_PAID = "invoice.paid"
    INVOICE_VOIDED = "invoice.voided"
    INVOICE_UNCOLLECTIBLE = "invoice.uncollectible"
    INVOICE_UPCOMING = "invoice.upcoming"
    PAYMENT_METHOD_UPDATED = "payment_method.updated"
    CARD_EXPIRING = "card.expiring"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    DISPUTE_OPENED = "dispute.opened"
    DISPUTE_CLOSED = "dispute.closed"

    @property
    def cloudevents_type(self) -> str:
        return f"dunning.{self.value}.v1"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    provider: str = Field(description="Payment processor, e.g. 'stripe'.")
    provider_event_id: str = Field(description="The processor's own event id (dedupe key).")
    provider_event_type: str = Field(description="The processor's event type, e.g. 'invoice.payment_failed'.")
    provider_account: str | None = Field(
        default=None, description="Connected account the event belongs to (Stripe Connect), if any."
    )
    livemode: bool
    occurred_at: AwareDatetime = Field(description="When the processor says it happened (UTC).")
    customer_id: str | None = None


class InvoicePaymentData(_Event):
    """payment.failed / action_required / succeeded and invoice.overdue / paid / voided / uncollectible."""

    invoice_id: str
    invoice_number: str | None = None
    subscription_id: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    customer_country: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country of the billing address, when known."
    )
    customer_region: str | None = Field(
        default=None, description="State or province of the billing address (e.g. 'CA'), when known."
    )
    amount: int = Field(ge=0, description="Amount still owed (or paid, for success events), minor units.")
    amount_due: int = Field(ge=0, description="Invoice total due, minor units.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    invoice_status: str | None = Field(default=None, description="Processor invoice status.")
    due_date: AwareDatetime | None = None
    hosted_invoice_url: str | None = None
    billing_reason: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None
    payment_method_id: str | None = Field(default=None, description="The method that failed or paid.")
    payment_method_kind: str | None = Field(default=None, description="e.g. 'card', 'sepa_debit'.")
    card_brand: str | None = None
    card_country: str | None = None
    decline_code: str | None = Field(
        default=None, description="Issuer decline code, e.g. 'insufficient_funds'."
    )
    failure_code: str | None = Field(default=None, description="Processor error code, e.g. 'card_declined'.")
    failure_message: str | None = None
    advice_code: str | None = Field(
        default=None, description="Processor retry advice, e.g. 'do_not_try_again'."
    )
    network_advice_code: str | None = Field(default=None, description="Card network advice (Mastercard MAC).")
    network_decline_code: str | None = None
    attempt_count: int | None = Field(default=None, ge=0, description="Processor's payment attempts so far.")
    next_payment_attempt: AwareDatetime | None = Field(
        default=None, description="When the processor itself will retry (observe mode)."
    )


class PaymentMethodData(_Event):
    """payment_method.updated (attached, detached, updated, automatically updated) and card.expiring."""

    change: str = Field(description="attached | detached | updated | automatically_updated | expiring")
    payment_method_id: str
    payment_method_kind: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    card_exp_month: int | None = Field(default=None, ge=1, le=12)
    card_exp_year: int | None = None


class UpcomingInvoiceData(_Event):
    """invoice.upcoming: a renewal will be charged soon (the invoice has no id yet)."""

    subscription_id: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    amount_due: int = Field(ge=0, description="What the renewal will charge, minor units.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    renews_at: AwareDatetime | None = Field(
        default=None, description="When the processor will charge it (first attempt), when known."
    )


class SubscriptionData(_Event):
    """subscription.canceled."""

    subscription_id: str
    status: str
    latest_invoice_id: str | None = None
    canceled_at: AwareDatetime | None = None
    cancellation_reason: str | None = None


class DisputeData(_Event):
    """dispute.opened / dispute.closed."""

    dispute_id: str
    charge_id: str | None = None
    payment_intent_id: str | None = None
    invoice_id: str | None = None
    amount: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: str | None = None
    status: str = Field(description="Processor dispute status, e.g. 'needs_response', 'won', 'lost'.")


PaymentEventData = (
    InvoicePaymentData | PaymentMethodData | SubscriptionData | DisputeData | UpcomingInvoiceData
)

DATA_MODELS: dict[PaymentEventType, type[_Event]] = {
    PaymentEventType.PAYMENT_FAILED: InvoicePaymentData,
    PaymentEventType.PAYMENT_ACTION_REQUIRED: InvoicePaymentData,
    PaymentEventType.PAYMENT_SUCCEEDED: InvoicePaymentData,
    PaymentEventType.INVOICE_OVERDUE: InvoicePaymentData,
    PaymentEventType.INVOICE_PAID: InvoicePaymentData,
    PaymentEventType.INVOICE_VOIDED: InvoicePaymentData,
    PaymentEventType.INVOICE_UNCOLLECTIBLE: InvoicePaymentData,
    PaymentEventType.INVOICE_UPCOMING: UpcomingInvoiceData,
    PaymentEventType.PAYMENT_METHOD_UPDATED: PaymentMethodData,
    PaymentEventType.CARD_EXPIRING: PaymentMethodData,
    PaymentEventType.SUBSCRIPTION_CANCELED: SubscriptionData,
    PaymentEventType.DISPUTE_OPENED: DisputeData,
    PaymentEventType.DISPUTE_CLOSED: DisputeData,
}


def event_subject(tenant_id: str, data: PaymentEventData) -> str:
    """The Kafka key and CloudEvents subject.

    Invoice-scoped facts key on ``"{tenant}:{invoice_id}"`` (the dunning case key), so that
    everything about one invoice stays ordered on one partition. A fact that names no invoice
    (a payment method change, a dispute Stripe did not link to an invoice) keys on the
    customer, ``"{tenant}:customer:{customer_id}"``, so one customer's changes stay ordered.
    """
    invoice_id: str | None = None
    if isinstance(data, InvoicePaymentData | DisputeData):
        invoice_id = data.invoice_id
    elif isinstance(data, SubscriptionData):
        invoice_id = data.latest_invoice_id
    if invoice_id:
        return f"{tenant_id}:{invoice_id}"
    if data.customer_id:
        return f"{tenant_id}:customer:{data.customer_id}"
    if isinstance(data, DisputeData):
        return f"{tenant_id}:dispute:{data.dispute_id}"
    return f"{tenant_id}:event:{data.provider_event_id}"
