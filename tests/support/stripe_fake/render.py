"""Records to Stripe's JSON in the shape of the request's API version, with ``expand[]`` applied."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tests.support.stripe_fake import objects
from tests.support.stripe_fake.errors import StripeApiError
from tests.support.stripe_fake.objects import JsonObject
from tests.support.stripe_fake.records import (
    Card,
    ChargeRecord,
    Customer,
    Invoice,
    PaymentIntent,
    Subscription,
)
from tests.support.stripe_fake.state import FakeStripe

__all__ = ["BASIL", "Expand", "JsonObject", "Renderer", "is_legacy"]

# "Basil": invoices lose payment_intent/subscription/charge/paid for parent and payments;
# payment intents and charges lose invoice.
BASIL = "2025-03-31"
# Given the linked ID and the expansions below it, the expanded object.
_Load = Callable[[Any, "Expand"], Any]


def is_legacy(api_version: str) -> bool:
    return api_version[:10] < BASIL


class Expand:
    """A request's ``expand[]`` paths; ``under(field)`` gives the paths inside one field."""

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self.paths = [path for path in paths if path]

    def has(self, field: str) -> bool:
        return any(path.split(".", 1)[0] == field for path in self.paths)

    def under(self, field: str) -> Expand:
        prefix = field + "."
        return Expand(path[len(prefix) :] for path in self.paths if path.startswith(prefix))

    def check(self, allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        for path in self.paths:
            if path.split(".", 1)[0] not in allowed:
                message = f"This property cannot be expanded ({path})."
                raise StripeApiError(
                    400, {"type": "invalid_request_error", "message": message}, replayable=False
                )


class Renderer:
    """Reads the fake's stores: call it with ``fake.lock`` held."""

    def __init__(self, fake: FakeStripe, api_version: str) -> None:
        self.fake = fake
        self.legacy = is_legacy(api_version)

    def customer(self, customer: Customer, expand: Expand | None = None) -> JsonObject:
        delinquent = any(
            i.customer == customer.id and i.status == "open" and i.attempt_count > 0
            for i in self.fake.invoices.values()
        )

        def settings(value: Any, inner: Expand) -> Any:
            return self._expand(value, inner, {"default_payment_method": self._card})

        return self._expand(
            objects.customer_json(customer, delinquent=delinquent), expand, {"invoice_settings": settings}
        )

    def card(self, card: Card, expand: Expand | None = None) -> JsonObject:
        return self._expand(objects.card_json(card), expand, {"customer": self._customer})

    def invoice_links(self) -> set[str]:
        """What an invoice may expand in this API version (checked before paying, too)."""
        return set(self._invoice_loaders()) | (set() if self.legacy else {"payments"})

    def invoice(self, invoice: Invoice, expand: Expand | None = None) -> JsonObject:
        expand = expand or Expand()
        expand.check(self.invoice_links())
        intent = self.fake.intents[invoice.payment_intent]
        customer = self.fake.customers[invoice.customer]
        rendered = objects.invoice_json(invoice, customer, intent, legacy=self.legacy)
        if expand.has("payments"):
            # Not in the invoice unless asked for, as on Stripe.
            payments = objects.empty_list(f"/v1/invoice_payments?invoice={invoice.id}")
            payments["data"] = [objects.invoice_payment_json(invoice, intent)]
            rendered["payments"] = payments
        links = Expand(path for path in expand.paths if path != "payments")
        return self._expand(rendered, links, self._invoice_loaders())

    def _invoice_loaders(self) -> dict[str, _Load]:
        loaders: dict[str, _Load] = {"customer": self._customer, "default_payment_method": self._card}
        if self.legacy:
            loaders |= {
                "payment_intent": self._intent,
                "subscription": self._subscription,
                "charge": self._charge,
            }
        return loaders

    def payment_intent(self, intent: PaymentIntent, expand: Expand | None = None) -> JsonObject:
        loaders: dict[str, _Load] = {
            "customer": self._customer,
            "payment_method": self._card,
            "latest_charge": self._charge,
        }
        if self.legacy:
            loaders["invoice"] = self._invoice
        return self._expand(objects.intent_json(intent, legacy=self.legacy), expand, loaders)

    def charge(self, charge: ChargeRecord, expand: Expand | None = None) -> JsonObject:
        card = self.fake.cards[charge.payment_method]
        loaders: dict[str, _Load] = {"customer": self._customer, "payment_intent": self._intent}
        if self.legacy:
            loaders["invoice"] = self._invoice
        return self._expand(objects.charge_json(charge, card, legacy=self.legacy), expand, loaders)

    def subscription(self, sub: Subscription, expand: Expand | None = None) -> JsonObject:
        loaders = {
            "customer": self._customer,
            "default_payment_method": self._card,
            "latest_invoice": self._invoice,
        }
        return self._expand(objects.subscription_json(sub), expand, loaders)

    def listing(self, url: str, data: Sequence[JsonObject], *, has_more: bool = False) -> JsonObject:
        return {"object": "list", "data": list(data), "has_more": has_more, "url": url}

    @staticmethod
    def _expand(fields: JsonObject, expand: Expand | None, loaders: Mapping[str, _Load]) -> JsonObject:
        """Replace each expanded link's ID by its object; refuse what cannot be expanded."""
        expand = expand or Expand()
        expand.check(loaders)
        for name, load in loaders.items():
            if expand.has(name) and fields.get(name) is not None:
                fields[name] = load(fields[name], expand.under(name))
        return fields

    def _customer(self, object_id: str, expand: Expand) -> JsonObject:
        return self.customer(self.fake.customers[object_id], expand)

    def _card(self, object_id: str, expand: Expand) -> JsonObject:
        return self.card(self.fake.cards[object_id], expand)

    def _intent(self, object_id: str, expand: Expand) -> JsonObject:
        return self.payment_intent(self.fake.intents[object_id], expand)

    def _invoice(self, object_id: str, expand: Expand) -> JsonObject:
        return self.invoice(self.fake.invoices[object_id], expand)

    def _subscription(self, object_id: str, expand: Expand) -> JsonObject:
        return self.subscription(self.fake.subscriptions[object_id], expand)

    def _charge(self, object_id: str, expand: Expand) -> JsonObject:
        return self.charge(next(c for c in self.fake.charge_log if c.id == object_id), expand)
