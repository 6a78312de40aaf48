"""The fake's stored objects: plain records that ``render`` turns into Stripe's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tests.support.stripe_fake.outcomes import CardBehaviour

InvoiceStatus = Literal["draft", "open", "paid", "uncollectible", "void"]
SubscriptionStatus = Literal[
    "incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused"
]


@dataclass(slots=True)
class Customer:
    id: str
    account: str
    created: int
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    preferred_locales: list[str] = field(default_factory=list)
    address: dict[str, str | None] | None = None
    default_payment_method: str | None = None
    invoice_prefix: str = "FAKE0001"
    metadata: dict[str, str] = field(default_factory=dict)
    next_invoice_sequence: int = 1


@dataclass(slots=True)
class Card:
    """A card PaymentMethod attached to a customer, with its programmed behaviour."""

    id: str
    account: str
    customer: str
    created: int
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    country: str
    funding: str
    fingerprint: str
    behaviour: CardBehaviour = field(default_factory=CardBehaviour)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Subscription:
    id: str
    account: str
    customer: str
    created: int
    currency: str
    status: SubscriptionStatus = "active"
    default_payment_method: str | None = None
    latest_invoice: str | None = None
    canceled_at: int | None = None
    cancellation_comment: str | None = None
    cancellation_feedback: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PaymentIntent:
    """The one PaymentIntent Stripe creates per finalized invoice (every attempt reuses it), or a
    standalone one created through ``POST /v1/payment_intents`` (no invoice)."""

    id: str
    account: str
    customer: str
    invoice: str | None
    created: int
    amount: int
    currency: str
    status: str = "requires_payment_method"
    payment_method: str | None = None
    latest_charge: str | None = None
    amount_received: int = 0
    last_payment_error: dict[str, Any] | None = None
    canceled_at: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None


@dataclass(slots=True)
class Invoice:
    id: str
    account: str
    customer: str
    created: int
    number: str
    amount_due: int
    currency: str
    payment_intent: str
    status: InvoiceStatus = "open"
    amount_paid: int = 0
    attempt_count: int = 0
    subscription: str | None = None
    default_payment_method: str | None = None
    billing_reason: str = "subscription_cycle"
    due_date: int | None = None
    finalized_at: int | None = None
    paid_at: int | None = None
    voided_at: int | None = None
    marked_uncollectible_at: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    paid_out_of_band: bool = False

    @property
    def amount_remaining(self) -> int:
        if self.status in ("paid", "void"):
            return 0
        return self.amount_due - self.amount_paid


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """One charge attempt, as the fake saw it: what the chaos run counts double charges with."""

    id: str
    account: str
    invoice: str | None  # None: a standalone PaymentIntent's charge
    payment_intent: str
    payment_method: str
    customer: str
    amount: int
    currency: str
    status: Literal["succeeded", "failed"]
    created: int
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    advice_code: str | None = None
    network_advice_code: str | None = None
    network_decline_code: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = None


@dataclass(slots=True)
class RequestRecord:
    """One request to the Stripe API, as it was answered."""

    request_id: str
    method: str
    path: str
    account: str | None
    idempotency_key: str | None
    at: float
    status: int = 0
    replayed: bool = False
    fault: str | None = None
