"""The Stripe fake, driven over real HTTP by the official ``stripe`` SDK: proof of wire compatibility."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.support.servers import serve_in_thread
from tests.support.stripe_fake import (
    CardBehaviour,
    FakeStripe,
    always,
    authentication_required,
    decline,
    processing_error,
    sequence,
)
from tests.support.stripe_fake.forms import parse_form
from tests.support.stripe_fake.records import Card, Customer, Invoice
from tests.support.stripe_fake.traffic import FaultKind

from dunning.common.embedded import free_port

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

API_KEY = "sk_test_fake_dunning"
LEGACY = "2024-06-20"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(stripe_server: tuple[FakeStripe, str]) -> str:
    return stripe_server[1]


@contextlib.asynccontextmanager
async def sdk(url: str, *, api_key: str = API_KEY, **options: Any) -> AsyncIterator[stripe.StripeClient]:
    http_client = stripe.HTTPXClient()
    options.setdefault("max_network_retries", 0)
    try:
        yield stripe.StripeClient(api_key, base_addresses={"api": url}, http_client=http_client, **options)
    finally:
        await http_client.close_async()  # type: ignore[no-untyped-call]


@pytest_asyncio.fixture
async def client(url: str) -> AsyncIterator[stripe.StripeClient]:
    async with sdk(url) as stripe_client:
        yield stripe_client


def billing(
    fake: FakeStripe,
    *,
    behaviour: CardBehaviour | None = None,
    amount: int = 2500,
    account: str | None = None,
) -> tuple[Customer, Card, Invoice]:
    customer = fake.add_customer(email="jenny@example.com", name="Jenny Rosen", account=account)
    card = fake.add_card(customer.id, behaviour=behaviour)
    # An unknown subscription ID creates it, past due while this invoice is open.
    invoice = fake.add_invoice(
        customer.id, amount=amount, currency="EUR", subscription_id=f"sub_of_{customer.id}"
    )
    return customer, card, invoice


# -- reading ---------------------------------------------------------------------------------


async def test_customer_and_cards_read_through_the_sdk(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = fake.add_customer(
        email="jenny@example.com", name="Jenny", phone="+33600000000", preferred_locales=["fr"]
    )
    visa = fake.add_card(customer.id)
    master = fake.add_card(customer.id, brand="mastercard", exp=(3, 2031), default=True)

    got = await client.v1.customers.retrieve_async(customer.id)
    assert (got.email, got.name, got.phone, got.preferred_locales) == (
        "jenny@example.com",
        "Jenny",
        "+33600000000",
        ["fr"],
    )
    assert got.invoice_settings is not None
    assert got.invoice_settings.default_payment_method == master.id

    listed = await client.v1.customers.payment_methods.list_async(customer.id, {"limit": 1})
    assert [pm.id for pm in listed.data] == [master.id]  # newest first, like Stripe
    assert listed.has_more
    every = [pm.id async for pm in listed.auto_paging_iter()]
    assert every == [master.id, visa.id]

    by_customer = await client.v1.payment_methods.list_async({"customer": customer.id, "type": "card"})
    card = by_customer.data[1].card
    assert card is not None
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2030)
    retrieved = (await client.v1.payment_methods.retrieve_async(master.id)).card
    assert retrieved is not None
    assert retrieved.brand == "mastercard"


async def test_invoice_shape_follows_the_requested_api_version(fake: FakeStripe, url: str) -> None:
    _, _, invoice = billing(fake)
    async with sdk(url, stripe_version=LEGACY) as old:
        legacy = await old.v1.invoices.retrieve_async(invoice.id, {"expand": ["payment_intent"]})
    assert legacy["payment_intent"]["object"] == "payment_intent"
    assert legacy["payment_intent"]["id"] == invoice.payment_intent
    assert legacy["subscription"] == invoice.subscription
    assert (legacy.currency, legacy.amount_due, legacy.amount_remaining, legacy.status) == (
        "eur",
        2500,
        2500,
        "open",
    )

    async with sdk(url) as current:  # the SDK's pinned version: invoices have parent and payments
        now = await current.v1.invoices.retrieve_async(invoice.id, {"expand": ["payments"]})
        with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
            await current.v1.invoices.retrieve_async(invoice.id, {"expand": ["payment_intent"]})
    assert "payment_intent" not in now
    assert now.parent is not None
    assert now.parent.subscription_details is not None
    assert now.parent.subscription_details.subscription == invoice.subscription
    assert now.payments is not None
    assert now.payments.data[0].payment.payment_intent == invoice.payment_intent


async def test_query_strings_in_bracket_notation(fake: FakeStripe, url: str) -> None:
    _, _, invoice = billing(fake)
    async with httpx.AsyncClient(base_url=url, auth=(API_KEY, "")) as http:  # basic auth, as curl -u does
        response = await http.get(
            f"/v1/invoices/{invoice.id}?expand[]=payment_intent&expand[]=customer",
            headers={"Stripe-Version": LEGACY},
        )
    assert response.status_code == 200
    assert response.json()["payment_intent"]["object"] == "payment_intent"
    assert response.json()["customer"]["email"] == "jenny@example.com"
    assert response.headers["request-id"].startswith("req_")
    assert parse_form("metadata[0]=a&a[b][c]=d&expand[0]=x&expand[1]=y") == {
        "metadata": {"0": "a"},
        "a": {"b": {"c": "d"}},
        "expand": ["x", "y"],
    }


# -- paying ----------------------------------------------------------------------------------


async def test_pay_succeeds_and_records_one_charge(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _, card, invoice = billing(fake)
    paid = await client.v1.invoices.pay_async(
        invoice.id, {"payment_method": card.id, "off_session": True}, {"idempotency_key": "case-1:attempt-1"}
    )
    assert (paid.status, paid.amount_paid, paid.amount_remaining, paid.attempt_count) == ("paid", 2500, 0, 1)
    [charge] = fake.charges(invoice.id)
    assert (charge.status, charge.amount, charge.payment_method) == ("succeeded", 2500, card.id)
    assert charge.idempotency_key == "case-1:attempt-1"
    assert fake.successful_charges_by_invoice() == {invoice.id: 1}
    assert invoice.subscription is not None
    assert fake.subscription(invoice.subscription).status == "active"  # past_due while the invoice was open


async def test_decline_is_a_card_error_with_stripe_fields(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    behaviour = always(decline("insufficient_funds", advice_code="try_again_later", network_advice_code="01"))
    _, card, invoice = billing(fake, behaviour=behaviour)
    with pytest.raises(stripe.CardError) as raised:
        await client.v1.invoices.pay_async(invoice.id, {"payment_method": card.id, "off_session": True})
    error = raised.value
    assert (error.http_status, error.code) == (402, "card_declined")
    assert error.error is not None
    assert (error.error.decline_code, error.error.advice_code) == ("insufficient_funds", "try_again_later")
    assert error.error.network_advice_code == "01"
    assert error.user_message == "Your card has insufficient funds."
    [charge] = fake.charges(invoice.id)
    assert error.error.charge == charge.id
    assert charge.status == "failed"
    intent = error.error.payment_intent
    assert intent is not None
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None
    assert intent.last_payment_error.decline_code == "insufficient_funds"
    assert error.error.payment_method is not None
    assert error.error.payment_method.id == card.id
    assert error.request_id is not None
    assert charge.request_id == error.request_id
    again = await client.v1.invoices.retrieve_async(invoice.id)
    assert (again.status, again.attempt_count, again.amount_paid) == ("open", 1, 0)
    stored = await client.v1.charges.retrieve_async(charge.id)
    assert (stored.status, stored.failure_code, stored.paid) == ("failed", "card_declined", False)
    assert stored.outcome is not None
    assert (stored.outcome.reason, stored.outcome.advice_code) == ("insufficient_funds", "try_again_later")
    read_intent = await client.v1.payment_intents.retrieve_async(invoice.payment_intent)
    assert read_intent.latest_charge == charge.id
    assert read_intent.last_payment_error is not None
    assert read_intent.last_payment_error.code == "card_declined"


async def test_a_sequence_card_declines_twice_then_pays(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    _, _, invoice = billing(fake, behaviour=sequence(decline("insufficient_funds"), decline("do_not_honor")))
    codes = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as raised:
            await client.v1.invoices.pay_async(invoice.id)  # the customer's default card
        assert raised.value.error is not None
        codes.append(raised.value.error.decline_code)
    paid = await client.v1.invoices.pay_async(invoice.id)
    assert codes == ["insufficient_funds", "do_not_honor"]
    assert paid.status == "paid"
    assert [c.status for c in fake.charges(invoice.id)] == ["failed", "failed", "succeeded"]


@pytest.mark.parametrize(
    ("behaviour", "exp", "code", "decline_code", "param"),
    [
        (
            always(authentication_required()),
            (12, 2030),
            "authentication_required",
            "authentication_required",
            None,
        ),
        (always(processing_error()), (12, 2030), "processing_error", None, None),
        (None, (1, 2020), "expired_card", "expired_card", "exp_month"),  # expired: declined whatever it says
    ],
)
async def test_other_card_errors(
    fake: FakeStripe,
    client: stripe.StripeClient,
    behaviour: CardBehaviour | None,
    exp: tuple[int, int],
    code: str,
    decline_code: str | None,
    param: str | None,
) -> None:
    customer = fake.add_customer()
    fake.add_card(customer.id, behaviour=behaviour, exp=exp)
    invoice = fake.add_invoice(customer.id, amount=900)
    with pytest.raises(stripe.CardError) as raised:
        await client.v1.invoices.pay_async(invoice.id, {"off_session": True})
    assert (raised.value.http_status, raised.value.code, raised.value.param) == (402, code, param)
    assert raised.value.error is not None
    assert raised.value.error.decline_code == decline_code


async def test_on_session_authentication_asks_for_action_without_a_charge(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    _, _, invoice = billing(fake, behaviour=always(authentication_required()))
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.invoices.pay_async(invoice.id, {"off_session": False})
    assert (raised.value.http_status, raised.value.code) == (400, "invoice_payment_intent_requires_action")
    assert fake.charges() == []
    assert (
        await client.v1.payment_intents.retrieve_async(invoice.payment_intent)
    ).status == "requires_action"


async def test_list_invoices_filters_by_customer_and_status(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    customer, _, first = billing(fake)
    paid = fake.add_invoice(customer.id, amount=100, status="paid")
    billing(fake)  # another customer's
    listed = await client.v1.invoices.list_async({"customer": customer.id})
    assert [i.id for i in listed.data] == [paid.id, first.id]
    still_open = await client.v1.invoices.list_async({"customer": customer.id, "status": "open"})
    assert [i.id for i in still_open.data] == [first.id]


# -- idempotency -----------------------------------------------------------------------------


async def test_idempotent_replay_charges_once(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _, card, invoice = billing(fake)
    params: Any = {"payment_method": card.id, "off_session": True}
    first = await client.v1.invoices.pay_async(invoice.id, params, {"idempotency_key": "k-1"})
    second = await client.v1.invoices.pay_async(invoice.id, params, {"idempotency_key": "k-1"})
    assert first.last_response is not None
    assert second.last_response is not None
    assert second.last_response.body == first.last_response.body  # byte for byte
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert second.last_response.headers["Original-Request"] == first.last_response.request_id
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert len(fake.charges(invoice.id)) == 1


async def test_a_replayed_decline_is_not_retried(fake: FakeStripe, client: stripe.StripeClient) -> None:
    # Executed again, the second call would succeed; replayed, it declines again.
    _, _, invoice = billing(fake, behaviour=sequence(decline("insufficient_funds")))
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as raised:
            await client.v1.invoices.pay_async(invoice.id, options={"idempotency_key": "k-decline"})
        errors.append(raised.value)
    assert errors[0].http_body == errors[1].http_body
    assert errors[1].headers is not None
    assert errors[1].headers["Idempotent-Replayed"] == "true"
    assert [c.status for c in fake.charges(invoice.id)] == ["failed"]


async def test_one_key_for_other_params_or_endpoint_is_an_idempotency_error(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    customer, card, invoice = billing(fake, behaviour=always(decline()))
    other = fake.add_card(customer.id)
    with pytest.raises(stripe.CardError):
        await client.v1.invoices.pay_async(
            invoice.id, {"payment_method": card.id}, {"idempotency_key": "k-2"}
        )
    with pytest.raises(stripe.IdempotencyError, match="same parameters") as raised:
        await client.v1.invoices.pay_async(
            invoice.id, {"payment_method": other.id}, {"idempotency_key": "k-2"}
        )
    assert raised.value.http_status == 400
    with pytest.raises(stripe.IdempotencyError, match="same endpoint"):
        await client.v1.invoices.void_invoice_async(invoice.id, options={"idempotency_key": "k-2"})
    assert len(fake.charges()) == 1
    assert (await client.v1.invoices.retrieve_async(invoice.id)).status == "open"


async def test_a_key_still_in_flight_answers_409(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _, _, invoice = billing(fake)
    fake.set_latency(0.3)
    results = await asyncio.gather(
        client.v1.invoices.pay_async(invoice.id, options={"idempotency_key": "k-race"}),
        client.v1.invoices.pay_async(invoice.id, options={"idempotency_key": "k-race"}),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, stripe.APIError)]
    assert len(conflicts) == 1
    assert conflicts[0].http_status == 409
    assert conflicts[0].error is not None
    assert conflicts[0].error.code == "idempotency_key_in_use"
    assert len(fake.charges(invoice.id)) == 1


async def test_keys_are_scoped_per_account(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _, _, mine = billing(fake)
    _, _, theirs = billing(fake, account="acct_connected1")
    await client.v1.invoices.pay_async(mine.id, options={"idempotency_key": "shared"})
    await client.v1.invoices.pay_async(
        theirs.id, options={"idempotency_key": "shared", "stripe_account": "acct_connected1"}
    )
    assert fake.successful_charges_by_invoice() == {mine.id: 1, theirs.id: 1}


# -- faults, retries, limits -----------------------------------------------------------------


async def test_injected_429_is_a_rate_limit_error_and_charges_nothing(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    _, _, invoice = billing(fake)
    fake.inject_faults("rate_limit", count=1, path_prefix="/v1/invoices/")
    with pytest.raises(stripe.RateLimitError) as raised:
        await client.v1.invoices.pay_async(invoice.id, options={"idempotency_key": "k-429"})
    assert raised.value.http_status == 429
    assert raised.value.error is not None
    assert (raised.value.error.type, raised.value.error.code) == ("invalid_request_error", "rate_limit")
    assert fake.charges() == []
    # Not saved under the key: the same request now goes through.
    paid = await client.v1.invoices.pay_async(invoice.id, options={"idempotency_key": "k-429"})
    assert paid.status == "paid"


@pytest.mark.parametrize(
    ("kind", "should_retry", "status"),
    [("api_error", None, 500), ("rate_limit", True, 429), ("unavailable", None, 503)],
)
async def test_sdk_retries_show_in_the_request_log(
    fake: FakeStripe, url: str, kind: FaultKind, should_retry: bool | None, status: int
) -> None:
    _, _, invoice = billing(fake)
    fake.inject_faults(kind, should_retry=should_retry, path_prefix=f"/v1/invoices/{invoice.id}/pay")
    async with sdk(url, max_network_retries=1) as retrying:
        paid = await retrying.v1.invoices.pay_async(invoice.id)
    assert paid.status == "paid"
    log = fake.requests(f"/v1/invoices/{invoice.id}/pay")
    assert [(r.status, r.fault) for r in log] == [(status, kind), (200, None)]
    assert log[0].idempotency_key is not None
    assert log[0].idempotency_key == log[1].idempotency_key
    assert len(fake.charges(invoice.id)) == 1


async def test_the_sdk_does_not_retry_a_plain_429_itself(fake: FakeStripe, url: str) -> None:
    # Only Stripe-Should-Retry: true makes it retry a 429: our own backoff has to handle the rest.
    _, _, invoice = billing(fake)
    fake.inject_faults("rate_limit", path_prefix=f"/v1/invoices/{invoice.id}/pay")
    async with sdk(url, max_network_retries=2) as retrying:
        with pytest.raises(stripe.RateLimitError):
            await retrying.v1.invoices.pay_async(invoice.id)
    assert [(r.status, r.fault) for r in fake.requests()] == [(429, "rate_limit")]


async def test_a_lost_response_is_replayed_not_recharged(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    _, _, invoice = billing(fake)
    fake.inject_faults("api_error", after_execution=True, path_prefix="/v1/invoices/")
    with pytest.raises(stripe.APIError) as raised:
        await client.v1.invoices.pay_async(invoice.id, options={"idempotency_key": "k-crash"})
    assert raised.value.http_status == 500
    assert fake.successful_charges_by_invoice() == {invoice.id: 1}  # the charge did happen
    retried = await client.v1.invoices.pay_async(invoice.id, options={"idempotency_key": "k-crash"})
    assert retried.status == "paid"
    assert retried.last_response is not None
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(fake.charges(invoice.id)) == 1


async def test_rate_limiter_refuses_writes_beyond_the_limit(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    invoices = [billing(fake)[2] for _ in range(5)]
    fake.set_rate_limit(writes_per_second=3)
    results = await asyncio.gather(
        *(client.v1.invoices.pay_async(i.id) for i in invoices),
        client.v1.invoices.retrieve_async(invoices[0].id),  # reads are not limited here
        return_exceptions=True,
    )
    limited = [r for r in results if isinstance(r, stripe.RateLimitError)]
    assert len(limited) == 2
    assert len(fake.charges()) == 3
    assert not isinstance(results[-1], BaseException)


async def test_latency_is_applied_and_seeded(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = fake.add_customer()
    fake.set_latency(0.2, jitter=0.1, seed=7)
    started = time.monotonic()
    await client.v1.customers.retrieve_async(customer.id)
    assert time.monotonic() - started >= 0.2
    draws = []
    for _ in range(2):
        fake.set_latency(0.2, jitter=0.1, seed=7)
        draws.append([fake.traffic.delay("/v1/x") for _ in range(3)])
    assert draws[0] == draws[1]
    assert len(set(draws[0])) == 3
    assert all(0.2 <= d <= 0.3 for d in draws[0])


# -- invoice states and subscriptions --------------------------------------------------------


async def test_paying_a_paid_invoice_is_refused(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = fake.add_customer()
    fake.add_card(customer.id)
    invoice = fake.add_invoice(customer.id, amount=500, status="paid")
    with pytest.raises(stripe.InvalidRequestError, match="Invoice is already paid") as raised:
        await client.v1.invoices.pay_async(invoice.id)
    assert raised.value.http_status == 400
    assert fake.charges() == []


async def test_void_uncollectible_and_their_payments(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _, _, voided = billing(fake)
    _, _, written_off = billing(fake)
    assert (await client.v1.invoices.void_invoice_async(voided.id)).status == "void"
    with pytest.raises(stripe.InvalidRequestError, match="voided"):
        await client.v1.invoices.pay_async(voided.id)
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.invoices.mark_uncollectible_async(voided.id)

    marked = await client.v1.invoices.mark_uncollectible_async(written_off.id)
    assert (marked.status, marked.amount_remaining) == ("uncollectible", 2500)
    # Stripe still accepts payment of an uncollectible invoice.
    assert (await client.v1.invoices.pay_async(written_off.id)).status == "paid"
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.invoices.void_invoice_async(written_off.id)
    assert fake.successful_charges_by_invoice() == {written_off.id: 1}


async def test_cancel_subscription(fake: FakeStripe, client: stripe.StripeClient) -> None:
    subscription = fake.add_subscription(fake.add_customer().id, status="past_due", id="sub_jenny")
    canceled = await client.v1.subscriptions.cancel_async(
        subscription.id, {"cancellation_details": {"comment": "dunning exhausted"}}
    )
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert canceled.cancellation_details is not None
    assert canceled.cancellation_details.comment == "dunning exhausted"
    assert (await client.v1.subscriptions.retrieve_async("sub_jenny")).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError, match="already been canceled"):
        await client.v1.subscriptions.cancel_async("sub_jenny")


# -- accounts, auth and bad requests ---------------------------------------------------------


async def test_connect_account_scoping(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer, _, invoice = billing(fake, account="acct_connected1")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.invoices.retrieve_async(invoice.id)
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")
    found = await client.v1.customers.retrieve_async(
        customer.id, options={"stripe_account": "acct_connected1"}
    )
    assert found.id == customer.id
    with pytest.raises(stripe.PermissionError):
        await client.v1.customers.retrieve_async(customer.id, options={"stripe_account": "acct_stranger"})


async def test_authentication(fake: FakeStripe, url: str) -> None:
    customer = fake.add_customer()
    async with sdk(url, api_key="sk_live_not_for_a_fake") as live:
        with pytest.raises(stripe.AuthenticationError) as raised:
            await live.v1.customers.retrieve_async(customer.id)
    assert raised.value.http_status == 401
    assert "Invalid API Key" in str(raised.value.user_message)
    async with httpx.AsyncClient(base_url=url) as http:
        missing = await http.get(f"/v1/customers/{customer.id}")
        bearer = await http.get(
            f"/v1/customers/{customer.id}", headers={"Authorization": f"Bearer {API_KEY}"}
        )
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in missing.json()["error"]["message"]
    assert bearer.status_code == 200
    strict = FakeStripe(api_keys={"sk_test_tenant_a": "acct_a"})
    assert strict.platform_for_key("sk_test_tenant_a") == "acct_a"
    assert strict.platform_for_key(API_KEY) is None


async def test_unknown_parameters_and_urls_are_refused(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _, _, invoice = billing(fake)
    typo: Any = {"paymnet_method": "pm_x"}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.invoices.pay_async(invoice.id, typo)
    assert (raised.value.code, raised.value.param) == ("parameter_unknown", "paymnet_method")
    with pytest.raises(stripe.InvalidRequestError, match="Unrecognized request URL") as unknown:
        await client.v1.refunds.retrieve_async("re_123")
    assert unknown.value.http_status == 404
    assert fake.charges() == []


# -- from another process --------------------------------------------------------------------


async def test_control_api_programs_and_inspects_the_fake(fake: FakeStripe, url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as control, sdk(url) as client:
        customer = (await control.post("/_fake/customers", json={"email": "a@example.com"})).json()
        behaviour = {"sequence": [{"code": "card_declined", "decline_code": "insufficient_funds"}]}
        card = (
            await control.post(f"/_fake/customers/{customer['id']}/cards", json={"behaviour": behaviour})
        ).json()
        invoice = (
            await control.post("/_fake/invoices", json={"customer": customer["id"], "amount": 1999})
        ).json()
        assert (card["object"], invoice["status"], invoice["amount_due"]) == ("payment_method", "open", 1999)

        with pytest.raises(stripe.CardError):
            await client.v1.invoices.pay_async(invoice["id"])
        await control.post("/_fake/faults", json={"kind": "unavailable", "count": 1})
        with pytest.raises(stripe.APIError) as raised:
            await client.v1.invoices.pay_async(invoice["id"])
        assert raised.value.http_status == 503
        assert (await client.v1.invoices.pay_async(invoice["id"])).status == "paid"

        charges = (await control.get("/_fake/charges", params={"invoice": invoice["id"]})).json()["data"]
        assert [(c["status"], c["decline_code"]) for c in charges] == [
            ("failed", "insufficient_funds"),
            ("succeeded", None),
        ]
        summary = (await control.get("/_fake/charges/summary")).json()
        assert summary == {"attempts": 2, "succeeded": 1, "successful_by_invoice": {invoice["id"]: 1}}
        log = (await control.get("/_fake/requests")).json()["data"]
        assert [r["status"] for r in log] == [402, 503, 200]
        bad = await control.put(f"/_fake/payment_methods/{card['id']}/behaviour", json={"sequence": "nope"})
        assert bad.status_code == 422
        nobody = await control.post("/_fake/invoices", json={"customer": "cus_nobody", "amount": 1})
        assert nobody.status_code == 404
        assert (await control.post("/_fake/reset")).status_code == 201
    assert fake.charges() == []
    assert fake.invoices == {}


async def test_control_api_sets_behaviour_keys_accounts_and_limits(fake: FakeStripe, url: str) -> None:
    customer, card, invoice = billing(fake)
    async with httpx.AsyncClient(base_url=url) as control, sdk(url) as client:
        decline_once = {"sequence": [{"code": "card_declined", "decline_code": "generic_decline"}]}
        assert (
            await control.put(f"/_fake/payment_methods/{card.id}/behaviour", json=decline_once)
        ).status_code == 200
        with pytest.raises(stripe.CardError):
            await client.v1.invoices.pay_async(invoice.id)

        assert (await control.put("/_fake/rate_limit", json={"writes_per_second": 1})).status_code == 200
        results = await asyncio.gather(
            client.v1.invoices.pay_async(invoice.id),
            client.v1.invoices.pay_async(invoice.id),
            return_exceptions=True,
        )
        assert sum(isinstance(r, stripe.RateLimitError) for r in results) == 1
        assert (await control.delete("/_fake/rate_limit")).status_code == 200

        await control.post("/_fake/accounts", json={"account": "acct_partner"})
        with pytest.raises(stripe.InvalidRequestError):  # connected, but the customer is not theirs
            await client.v1.customers.retrieve_async(customer.id, options={"stripe_account": "acct_partner"})

        await control.post("/_fake/api_keys", json={"key": "sk_test_tenant_b", "account": "acct_b"})
        with pytest.raises(stripe.AuthenticationError):  # only registered keys from now on
            await client.v1.customers.retrieve_async(customer.id)
        await control.post("/_fake/reset")
        assert (await client.v1.customers.retrieve_async(fake.add_customer().id)).object == "customer"


async def test_signed_webhook_verifies_with_the_official_sdk(fake: FakeStripe, url: str) -> None:
    received: list[tuple[bytes, str]] = []

    async def hook(request: Request) -> Response:
        received.append((await request.body(), request.headers["stripe-signature"]))
        return Response(status_code=200)

    _, _, invoice = billing(fake, behaviour=always(decline("insufficient_funds")))
    secret = "whsec_fake_test_secret"
    with serve_in_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        async with httpx.AsyncClient(base_url=url) as control:
            answer = await control.post(
                "/_fake/webhooks",
                json={
                    "url": f"{receiver}/hook",
                    "secret": secret,
                    "type": "invoice.payment_failed",
                    "object": invoice.id,
                },
            )
    assert answer.json()["delivered"]
    assert answer.json()["status"] == 200
    [(body, signature)] = received
    event = stripe.Webhook.construct_event(body.decode(), signature, secret)
    assert (event.type, event.data.object["id"]) == ("invoice.payment_failed", invoice.id)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), signature, "whsec_other")
    assert json.loads(body)["data"]["object"]["payment_intent"] == invoice.payment_intent


async def test_runs_as_a_process_and_stops_on_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.stripe_fake", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    response = await http.post("/_fake/customers", json={"email": "x@example.com"})
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the fake never answered")
            assert response.status_code == 201
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
