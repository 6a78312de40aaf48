"""The ``/v1`` endpoints: each a synchronous handler over the locked state, with the params it accepts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tests.support.stripe_fake import billing
from tests.support.stripe_fake.catalog import find
from tests.support.stripe_fake.errors import invalid_param, resource_missing, unrecognized_url
from tests.support.stripe_fake.forms import Params, as_bool, as_int, as_list, as_text
from tests.support.stripe_fake.render import Expand, JsonObject, Renderer
from tests.support.stripe_fake.state import FakeStripe

_MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Call:
    fake: FakeStripe
    render: Renderer
    method: str
    path: str
    account: str
    params: Params
    path_params: Mapping[str, str]
    idempotency_key: str | None
    request_id: str

    @property
    def expand(self) -> Expand:
        return Expand(as_list(self.params, "expand"))


Handler = Callable[[Call], JsonObject]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    # None: accept anything (the catch-all that answers "Unrecognized request URL").
    params: frozenset[str] | None


def _page(call: Call, url: str, items: Sequence[JsonObject]) -> JsonObject:
    """Stripe's cursor pagination, newest first: ``limit``, ``starting_after``, ``ending_before``."""
    limit = as_int(call.params, "limit", default=10)
    if not 1 <= limit <= _MAX_PAGE:
        raise invalid_param(f"Invalid limit: must be between 1 and {_MAX_PAGE}", param="limit")
    ids = [item["id"] for item in items]
    after, before = as_text(call.params, "starting_after"), as_text(call.params, "ending_before")
    for name, cursor in (("starting_after", after), ("ending_before", before)):
        if cursor is not None and cursor not in ids:
            raise resource_missing("object", cursor, param=name)
    if before is not None:
        window = list(items[: ids.index(before)])
        page, has_more = window[-limit:], len(window) > limit
    else:
        window = list(items[ids.index(after) + 1 :] if after is not None else items)
        page, has_more = window[:limit], len(window) > limit
    return call.render.listing(url, page, has_more=has_more)


def _list_expand(call: Call) -> Expand:
    expand = call.expand
    expand.check({"data"})
    return expand.under("data")


def get_customer(call: Call) -> JsonObject:
    customer = find(call.fake.customers, call.path_params["id"], call.account)
    if customer is None:
        raise resource_missing("customer", call.path_params["id"])
    return call.render.customer(customer, call.expand)


def _card_page(call: Call, url: str, customer_id: str | None) -> JsonObject:
    kind = as_text(call.params, "type")
    if kind is not None and kind != "card":
        return call.render.listing(url, [])
    expand = _list_expand(call)
    cards = [
        call.render.card(card, expand)
        for card in reversed(call.fake.cards.values())
        if card.account == call.account and (customer_id is None or card.customer == customer_id)
    ]
    return _page(call, url, cards)


def list_customer_payment_methods(call: Call) -> JsonObject:
    customer_id = call.path_params["id"]
    if find(call.fake.customers, customer_id, call.account) is None:
        raise resource_missing("customer", customer_id)
    return _card_page(call, f"/v1/customers/{customer_id}/payment_methods", customer_id)


def list_payment_methods(call: Call) -> JsonObject:
    customer_id = as_text(call.params, "customer")
    if customer_id is not None and find(call.fake.customers, customer_id, call.account) is None:
        raise resource_missing("customer", customer_id, param="customer")
    return _card_page(call, "/v1/payment_methods", customer_id)


def get_payment_method(call: Call) -> JsonObject:
    card = find(call.fake.cards, call.path_params["id"], call.account)
    if card is None:
        raise resource_missing("PaymentMethod", call.path_params["id"])
    return call.render.card(card, call.expand)


def get_invoice(call: Call) -> JsonObject:
    invoice = billing.get_invoice(call.fake, call.account, call.path_params["id"])
    return call.render.invoice(invoice, call.expand)


def list_invoices(call: Call) -> JsonObject:
    customer, status = as_text(call.params, "customer"), as_text(call.params, "status")
    subscription = as_text(call.params, "subscription")
    expand = _list_expand(call)
    invoices = [
        call.render.invoice(invoice, expand)
        for invoice in reversed(call.fake.invoices.values())
        if invoice.account == call.account
        and customer in (None, invoice.customer)
        and status in (None, invoice.status)
        and subscription in (None, invoice.subscription)
    ]
    return _page(call, "/v1/invoices", invoices)


def pay_invoice(call: Call) -> JsonObject:
    # Checked before charging: a bad expand must not cost the customer a charge.
    call.expand.check(call.render.invoice_links())
    invoice = billing.pay_invoice(
        call.fake,
        call.render,
        call.account,
        call.path_params["id"],
        payment_method=as_text(call.params, "payment_method"),
        off_session=as_bool(call.params, "off_session"),
        idempotency_key=call.idempotency_key,
        request_id=call.request_id,
        paid_out_of_band=bool(as_bool(call.params, "paid_out_of_band")),
    )
    return call.render.invoice(invoice, call.expand)


def mark_uncollectible(call: Call) -> JsonObject:
    invoice = billing.mark_uncollectible(call.fake, call.account, call.path_params["id"])
    return call.render.invoice(invoice, call.expand)


def void_invoice(call: Call) -> JsonObject:
    invoice = billing.void_invoice(call.fake, call.account, call.path_params["id"])
    return call.render.invoice(invoice, call.expand)


def create_payment_intent(call: Call) -> JsonObject:
    # Checked before charging: a bad expand must not cost the customer a charge.
    call.expand.check(
        {"customer", "payment_method", "latest_charge"} | ({"invoice"} if call.render.legacy else set())
    )
    metadata = call.params.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise invalid_param("Invalid metadata", param="metadata")
    intent = billing.create_payment_intent(
        call.fake,
        call.render,
        call.account,
        amount=as_int(call.params, "amount", default=0),
        currency=as_text(call.params, "currency") or "",
        customer=as_text(call.params, "customer"),
        payment_method=as_text(call.params, "payment_method"),
        confirm=bool(as_bool(call.params, "confirm")),
        off_session=as_bool(call.params, "off_session"),
        metadata=dict(metadata),
        description=as_text(call.params, "description"),
        idempotency_key=call.idempotency_key,
        request_id=call.request_id,
    )
    return call.render.payment_intent(intent, call.expand)


def get_payment_intent(call: Call) -> JsonObject:
    intent = find(call.fake.intents, call.path_params["id"], call.account)
    if intent is None:
        raise resource_missing("payment_intent", call.path_params["id"])
    return call.render.payment_intent(intent, call.expand)


def get_charge(call: Call) -> JsonObject:
    charge_id = call.path_params["id"]
    charge = next((c for c in call.fake.charge_log if c.id == charge_id and c.account == call.account), None)
    if charge is None:
        raise resource_missing("charge", charge_id)
    return call.render.charge(charge, call.expand)


def get_subscription(call: Call) -> JsonObject:
    subscription = find(call.fake.subscriptions, call.path_params["id"], call.account)
    if subscription is None:
        raise resource_missing("subscription", call.path_params["id"])
    return call.render.subscription(subscription, call.expand)


def cancel_subscription(call: Call) -> JsonObject:
    details = call.params.get("cancellation_details") or {}
    if not isinstance(details, dict) or set(details) - {"comment", "feedback"}:
        raise invalid_param("Invalid cancellation_details", param="cancellation_details")
    as_bool(call.params, "invoice_now")
    as_bool(call.params, "prorate")
    subscription = billing.cancel_subscription(
        call.fake,
        call.account,
        call.path_params["id"],
        comment=as_text(details, "comment"),
        feedback=as_text(details, "feedback"),
    )
    return call.render.subscription(subscription, call.expand)


def create_billing_portal_session(call: Call) -> JsonObject:
    """A customer portal session: Stripe's hosted page where the customer updates how they pay."""
    customer_id = as_text(call.params, "customer")
    if not customer_id:
        raise invalid_param("Missing required param: customer.", param="customer")
    if find(call.fake.customers, customer_id, call.account) is None:
        raise resource_missing("customer", customer_id, param="customer")
    session_id = call.fake.new_id("bps")
    return {
        "id": session_id,
        "object": "billing_portal.session",
        "customer": customer_id,
        "livemode": False,
        "locale": as_text(call.params, "locale"),
        "return_url": as_text(call.params, "return_url"),
        "created": call.fake.now(),
        "url": f"https://billing.stripe.test/p/session/{session_id}",
    }


def unrecognized(call: Call) -> JsonObject:
    raise unrecognized_url(call.method, call.path)


_EXPAND = frozenset({"expand"})
_PAGE = frozenset({"expand", "limit", "starting_after", "ending_before"})

ENDPOINTS = (
    Endpoint("GET", "/v1/customers/{id}", get_customer, _EXPAND),
    Endpoint("GET", "/v1/customers/{id}/payment_methods", list_customer_payment_methods, _PAGE | {"type"}),
    Endpoint("GET", "/v1/payment_methods", list_payment_methods, _PAGE | {"customer", "type"}),
    Endpoint("GET", "/v1/payment_methods/{id}", get_payment_method, _EXPAND),
    Endpoint("GET", "/v1/invoices", list_invoices, _PAGE | {"customer", "status", "subscription"}),
    Endpoint("GET", "/v1/invoices/{id}", get_invoice, _EXPAND),
    Endpoint(
        "POST",
        "/v1/invoices/{id}/pay",
        pay_invoice,
        _EXPAND | {"payment_method", "off_session", "paid_out_of_band"},
    ),
    Endpoint("POST", "/v1/invoices/{id}/mark_uncollectible", mark_uncollectible, _EXPAND),
    Endpoint("POST", "/v1/invoices/{id}/void", void_invoice, _EXPAND),
    Endpoint(
        "POST",
        "/v1/payment_intents",
        create_payment_intent,
        _EXPAND
        | {"amount", "currency", "customer", "payment_method", "confirm", "off_session", "metadata"}
        | {"description"},
    ),
    Endpoint("GET", "/v1/payment_intents/{id}", get_payment_intent, _EXPAND | {"client_secret"}),
    Endpoint("GET", "/v1/charges/{id}", get_charge, _EXPAND),
    Endpoint("GET", "/v1/subscriptions/{id}", get_subscription, _EXPAND),
    Endpoint(
        "POST",
        "/v1/billing_portal/sessions",
        create_billing_portal_session,
        _EXPAND | {"customer", "return_url", "locale"},
    ),
    Endpoint(
        "DELETE",
        "/v1/subscriptions/{id}",
        cancel_subscription,
        _EXPAND | {"cancellation_details", "invoice_now", "prorate"},
    ),
)
CATCH_ALL = Endpoint("*", "/v1/{path:path}", unrecognized, None)
