"""The retry service's Stripe gateway against the Stripe fake over real HTTP, through the SDK:
declines are outcomes, capacity errors are retried, an idempotency key charges once."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests.support.servers import serve_in_thread
from tests.support.stripe_fake import FakeStripe, always, decline, sequence

from dunning.common.tenancy.service import ProcessorCredentials
from dunning.retry.gateway import ProcessorRefused, ProcessorUnavailable, StripeGateway, TokenBucket

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CREDS = ProcessorCredentials(
    tenant_id="ten_gw", provider="stripe", api_key="sk_test_gateway_key", livemode=False
)


async def test_invoice_snapshot_and_stored_methods(fake: FakeStripe, gateway: StripeGateway) -> None:
    customer = fake.add_customer(email="jenny@example.com")
    visa = fake.add_card(customer.id, brand="visa", exp=(12, 2030))
    master = fake.add_card(customer.id, brand="mastercard", exp=(1, 2031), default=True)
    invoice = fake.add_invoice(customer.id, amount=4200, currency="EUR", subscription_id="sub_gw")

    snapshot = await gateway.invoice(CREDS, invoice.id, None)
    assert (snapshot.status, snapshot.amount_remaining, snapshot.currency) == ("open", 4200, "EUR")
    assert snapshot.customer_id == customer.id
    assert snapshot.subscription_id == "sub_gw"  # found whichever API version shape the fake serves
    assert snapshot.default_payment_method_id == master.id

    methods = {m.id: m for m in await gateway.stored_methods(CREDS, customer.id, None)}
    assert set(methods) == {visa.id, master.id}
    assert methods[master.id].is_default
    assert (methods[visa.id].brand, methods[visa.id].exp_month, methods[visa.id].exp_year) == (
        "visa",
        12,
        2030,
    )


async def test_a_decline_is_an_outcome_with_its_codes(fake: FakeStripe, gateway: StripeGateway) -> None:
    customer = fake.add_customer()
    card = fake.add_card(
        customer.id,
        brand="mastercard",
        behaviour=always(
            decline("insufficient_funds", advice_code="try_again_later", network_advice_code="24")
        ),
    )
    invoice = fake.add_invoice(customer.id, amount=1000, currency="USD")
    result = await gateway.pay(
        CREDS, invoice.id, payment_method_id=card.id, idempotency_key="case_1:2:pm", account=None
    )
    assert not result.succeeded
    assert (result.failure_code, result.decline_code) == ("card_declined", "insufficient_funds")
    assert (result.advice_code, result.network_advice_code) == ("try_again_later", "24")
    assert result.payment_intent_id
    assert result.charge_id


async def test_one_idempotency_key_charges_once_however_often_it_is_sent(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    customer = fake.add_customer()
    card = fake.add_card(customer.id)
    invoice = fake.add_invoice(customer.id, amount=1500, currency="USD")
    # The first answer is lost on the way back (the charge happened): the retry must replay it.
    fake.inject_faults(
        "api_error", count=1, path_prefix=f"/v1/invoices/{invoice.id}/pay", after_execution=True
    )
    results = [
        await gateway.pay(
            CREDS, invoice.id, payment_method_id=card.id, idempotency_key="case_9:3:" + card.id, account=None
        )
        for _ in range(3)
    ]
    assert all(r.succeeded for r in results)
    assert [c.status for c in fake.charges(invoice.id)] == ["succeeded"]


async def test_rate_limits_are_retried_with_backoff_and_then_succeed(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    customer = fake.add_customer()
    fake.add_card(customer.id, behaviour=sequence(decline("processing_error")))
    invoice = fake.add_invoice(customer.id, amount=700, currency="USD")
    fake.inject_faults("rate_limit", count=2, path_prefix="/v1/invoices")
    snapshot = await gateway.invoice(CREDS, invoice.id, None)
    assert snapshot.status == "open"
    assert len([r for r in fake.requests("/v1/invoices/") if r.status == 429]) == 2


async def test_a_processor_that_stays_down_is_unavailable_not_a_decline(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    customer = fake.add_customer()
    invoice = fake.add_invoice(customer.id, amount=700, currency="USD")
    fake.inject_faults("unavailable", count=None, path_prefix="/v1/invoices")
    with pytest.raises(ProcessorUnavailable):
        await gateway.pay(CREDS, invoice.id, payment_method_id=None, idempotency_key="k-down", account=None)
    assert fake.charges(invoice.id) == []


async def test_paying_a_paid_invoice_is_refused_not_charged(fake: FakeStripe, gateway: StripeGateway) -> None:
    customer = fake.add_customer()
    fake.add_card(customer.id)
    invoice = fake.add_invoice(customer.id, amount=700, currency="USD", status="paid")
    with pytest.raises(ProcessorRefused, match="already paid"):
        await gateway.pay(CREDS, invoice.id, payment_method_id=None, idempotency_key="k-paid", account=None)
    assert fake.charges(invoice.id) == []


async def test_connected_accounts_are_reached_through_the_stripe_account_header(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    fake.connect("acct_connected")
    customer = fake.add_customer(account="acct_connected")
    invoice = fake.add_invoice(customer.id, amount=900, currency="USD")
    assert (await gateway.invoice(CREDS, invoice.id, "acct_connected")).amount_remaining == 900
    with pytest.raises(ProcessorRefused):
        await gateway.invoice(CREDS, invoice.id, None)  # not on the platform account


async def test_the_token_bucket_spaces_requests_to_its_rate() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await bucket.take()
    # A burst of two, then one every half second.
    assert slept == [0.5, 0.5, 0.5]


async def test_a_paid_invoice_names_its_payment_intent_on_every_api_version(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    customer = fake.add_customer()
    card = fake.add_card(customer.id, default=True)
    invoice = fake.add_invoice(customer.id, amount=1200, currency="USD")
    result = await gateway.pay(
        CREDS, invoice.id, payment_method_id=card.id, idempotency_key="k-pi", account=None
    )
    assert result.succeeded
    assert result.payment_intent_id is not None
    assert result.payment_intent_id.startswith("pi_")


async def test_a_plain_text_404_is_a_refusal_asked_once_not_an_outage() -> None:
    # A wrong DUNNING_STRIPE_API_BASE answers like this: it must surface, not be retried forever.
    hits: list[str] = []

    async def anything(request: Request) -> PlainTextResponse:
        hits.append(request.url.path)
        return PlainTextResponse("404: Not Found", status_code=404)

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])
    with serve_in_thread(app) as url:
        gw = StripeGateway(api_base=url, max_wait=0.05)
        try:
            with pytest.raises(ProcessorRefused, match="HTTP 404"):
                await gw.invoice(CREDS, "in_missing", None)
        finally:
            await gw.close()
    assert hits == ["/v1/invoices/in_missing"]


async def test_stored_methods_are_read_page_by_page(fake: FakeStripe, gateway: StripeGateway) -> None:
    customer = fake.add_customer()
    cards = [fake.add_card(customer.id, brand="visa", exp=(12, 2030)) for _ in range(103)]
    methods = await gateway.stored_methods(CREDS, customer.id, None)
    assert {m.id for m in methods} == {c.id for c in cards}
    assert all(m.last4 for m in methods)
