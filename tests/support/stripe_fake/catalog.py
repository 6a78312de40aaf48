"""The objects a test programs the fake with: customers, their cards, subscriptions and invoices."""

from __future__ import annotations

import hashlib
import itertools
import random
import string
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tests.support.stripe_fake.outcomes import CardBehaviour
from tests.support.stripe_fake.records import (
    Card,
    ChargeRecord,
    Customer,
    Invoice,
    InvoiceStatus,
    PaymentIntent,
    Subscription,
    SubscriptionStatus,
)

DEFAULT_ACCOUNT = "acct_fakeplatform"
_TEST_LAST4 = {"visa": "4242", "mastercard": "4444", "amex": "8431", "discover": "1117", "jcb": "0505"}
_ID_ALPHABET = string.ascii_letters + string.digits
T = TypeVar("T")


class Catalog:
    """The stores of Stripe objects, per account, and the typed calls that fill them."""

    def __init__(self, *, seed: int, clock: Callable[[], float] = time.time) -> None:
        # A plain lock held only in synchronous sections, never across an await: it serves
        # tasks on the server's loop and test code on other threads alike.
        self.lock = threading.RLock()
        self.clock = clock
        # Not reset with the catalog: an ID is never handed out twice in a process, so a
        # client still holding one from before a reset cannot reach a newer object by mistake.
        self._rng = random.Random(seed)
        self._serial = itertools.count(1)
        self._clear_catalog()

    def _clear_catalog(self) -> None:
        with self.lock:
            self.customers: dict[str, Customer] = {}
            self.cards: dict[str, Card] = {}
            self.subscriptions: dict[str, Subscription] = {}
            self.invoices: dict[str, Invoice] = {}
            self.intents: dict[str, PaymentIntent] = {}
            self.charge_log: list[ChargeRecord] = []
            # Connected account -> the platform whose keys may act on it (Stripe-Account).
            self._connected: dict[str, str] = {}

    def new_id(self, prefix: str) -> str:
        with self.lock:
            return f"{prefix}_{next(self._serial):06d}{''.join(self._rng.choices(_ID_ALPHABET, k=18))}"

    def now(self) -> int:
        return int(self.clock())

    def add_customer(
        self,
        *,
        id: str | None = None,
        email: str | None = None,
        name: str | None = None,
        phone: str | None = None,
        preferred_locales: list[str] | None = None,
        address: dict[str, str | None] | None = None,
        metadata: dict[str, str] | None = None,
        account: str | None = None,
    ) -> Customer:
        with self.lock:
            account = account or DEFAULT_ACCOUNT
            if account != DEFAULT_ACCOUNT and account not in self._connected:
                self._connected[account] = DEFAULT_ACCOUNT
            customer = Customer(
                id=id or self.new_id("cus"),
                account=account,
                created=self.now(),
                email=email,
                name=name,
                phone=phone,
                preferred_locales=list(preferred_locales or []),
                address=address,
                invoice_prefix="".join(self._rng.choices(string.ascii_uppercase + string.digits, k=8)),
                metadata=dict(metadata or {}),
            )
            self.customers[customer.id] = customer
            return customer

    def add_card(
        self,
        customer_id: str,
        *,
        brand: str = "visa",
        exp: tuple[int, int] = (12, 2030),
        last4: str | None = None,
        country: str = "US",
        funding: str = "credit",
        behaviour: CardBehaviour | None = None,
        default: bool = False,
        id: str | None = None,
    ) -> Card:
        with self.lock:
            customer = self._require(self.customers, customer_id)
            card_id = id or self.new_id("pm")
            card = Card(
                id=card_id,
                account=customer.account,
                customer=customer.id,
                created=self.now(),
                brand=brand,
                last4=last4 or _TEST_LAST4.get(brand, "0000"),
                exp_month=exp[0],
                exp_year=exp[1],
                country=country,
                funding=funding,
                fingerprint=hashlib.sha256(card_id.encode()).hexdigest()[:16],
                behaviour=behaviour.model_copy(deep=True) if behaviour else CardBehaviour(),
            )
            self.cards[card.id] = card
            if default or customer.default_payment_method is None:
                customer.default_payment_method = card.id
            return card

    def set_behaviour(self, payment_method_id: str, behaviour: CardBehaviour) -> None:
        with self.lock:
            self._require(self.cards, payment_method_id).behaviour = behaviour.model_copy(deep=True)

    def add_subscription(
        self,
        customer_id: str,
        *,
        status: SubscriptionStatus = "active",
        currency: str = "usd",
        default_payment_method: str | None = None,
        id: str | None = None,
    ) -> Subscription:
        with self.lock:
            customer = self._require(self.customers, customer_id)
            subscription = Subscription(
                id=id or self.new_id("sub"),
                account=customer.account,
                customer=customer.id,
                created=self.now(),
                currency=currency.lower(),
                status=status,
                default_payment_method=default_payment_method,
            )
            self.subscriptions[subscription.id] = subscription
            return subscription

    def add_invoice(
        self,
        customer_id: str,
        *,
        amount: int,
        currency: str = "usd",
        subscription_id: str | None = None,
        status: InvoiceStatus = "open",
        default_payment_method: str | None = None,
        billing_reason: str = "subscription_cycle",
        due_date: int | None = None,
        metadata: dict[str, str] | None = None,
        id: str | None = None,
    ) -> Invoice:
        """An invoice with its PaymentIntent; an unknown ``subscription_id`` creates the subscription."""
        if amount < 0:
            raise ValueError("amount must be in minor units, >= 0")
        with self.lock:
            customer = self._require(self.customers, customer_id)
            now = self.now()
            invoice_id = id or self.new_id("in")
            intent = PaymentIntent(
                id=self.new_id("pi"),
                account=customer.account,
                customer=customer.id,
                invoice=invoice_id,
                created=now,
                amount=amount,
                currency=currency.lower(),
            )
            invoice = Invoice(
                id=invoice_id,
                account=customer.account,
                customer=customer.id,
                created=now,
                number=f"{customer.invoice_prefix}-{customer.next_invoice_sequence:04d}",
                amount_due=amount,
                currency=currency.lower(),
                payment_intent=intent.id,
                status=status,
                subscription=subscription_id,
                default_payment_method=default_payment_method,
                billing_reason=billing_reason,
                due_date=due_date,
                finalized_at=None if status == "draft" else now,
                metadata=dict(metadata or {}),
            )
            customer.next_invoice_sequence += 1
            if status == "paid":
                invoice.amount_paid, invoice.paid_at = amount, now
                intent.status, intent.amount_received = "succeeded", amount
            elif status == "void":
                invoice.voided_at, intent.status = now, "canceled"
            elif status == "uncollectible":
                invoice.marked_uncollectible_at = now
            existing = self.subscriptions.get(subscription_id or "")
            if existing is not None and existing.customer != customer.id:
                raise ValueError(f"{subscription_id} belongs to another customer")
            if subscription_id is not None:
                subscription = existing or self.add_subscription(
                    customer.id,
                    id=subscription_id,
                    currency=currency,
                    status="past_due" if status == "open" else "active",
                )
                subscription.latest_invoice = invoice.id
            self.intents[intent.id] = intent
            self.invoices[invoice.id] = invoice
            return invoice

    def invoice(self, invoice_id: str) -> Invoice:
        with self.lock:
            return self._require(self.invoices, invoice_id)

    def subscription(self, subscription_id: str) -> Subscription:
        with self.lock:
            return self._require(self.subscriptions, subscription_id)

    @staticmethod
    def _require(store: Mapping[str, T], object_id: str) -> T:
        try:
            return store[object_id]
        except KeyError:
            raise KeyError(f"the fake has no {object_id!r}") from None


def find(store: Mapping[str, T], object_id: str, account: str) -> T | None:
    """The object, if it exists in ``account``: other accounts' objects are invisible, as on Stripe."""
    found: Any = store.get(object_id)
    return found if found is not None and found.account == account else None
