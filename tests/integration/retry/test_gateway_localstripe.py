"""The retry service's Stripe gateway against localstripe, an independent Stripe fake, over real
HTTP: a second reading of the Stripe API, so our gateway and our own fake cannot share a mistake.

What localstripe 1.15.10 lacks is skipped naming the endpoint, found by asking it at run time, so
a later localstripe that gains the endpoint runs the test instead of skipping it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from tests.support.localstripe_server import (
    API_KEY,
    CHARGE_DECLINED_CARD,
    FAILING_IBAN,
    CaughtWebhook,
    LocalStripe,
    WebhookCatcher,
    run_localstripe,
)
from tests.support.servers import serve_in_thread

from dunning.common.tenancy.service import CreatedTenant, ProcessorCredentials
from dunning.retry.gateway import ProcessorRefused, StripeGateway

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CREDS = ProcessorCredentials(tenant_id="ten_peer", provider="stripe", api_key=API_KEY, livemode=False)
PAY_PARAMS = {"payment_method": "pm_probe", "off_session": "true"}
PROBLEMS = "https://dunning.dev/problems/"


@pytest.fixture(scope="module")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_localstripe(tmp_path_factory.mktemp("localstripe") / "localstripe.log") as url:
        yield url


@pytest_asyncio.fixture
async def peer(localstripe_url: str) -> AsyncIterator[LocalStripe]:
    async with httpx.AsyncClient(base_url=localstripe_url, auth=(API_KEY, ""), timeout=10) as http:
        yield LocalStripe(http)


@pytest_asyncio.fixture
async def gateway(localstripe_url: str) -> AsyncIterator[StripeGateway]:
    # Short backoff: a peer that answers 500 for what it lacks should fail fast, not slowly.
    gw = StripeGateway(api_base=localstripe_url, max_wait=0.05)
    yield gw
    await gw.close()


async def skip_unless_implemented(
    peer: LocalStripe, method: str, path: str, form: dict[str, str] | None = None
) -> None:
    reason = await peer.lacks(method, path, form)
    if reason is not None:
        pytest.skip(reason)


async def test_invoice_snapshot_of_an_open_subscription_invoice(
    peer: LocalStripe, gateway: StripeGateway
) -> None:
    customer = await peer.customer()
    declining = await peer.card(customer, number=CHARGE_DECLINED_CARD)
    await peer.card(customer)
    await peer.make_default(customer, declining)
    # The first period is charged to the declining default at once, leaving the invoice open.
    subscription = await peer.subscription(customer, amount=1500, currency="usd")
    invoice_id = subscription["latest_invoice"]

    snapshot = await gateway.invoice(CREDS, invoice_id, None)

    assert (snapshot.id, snapshot.status, snapshot.currency) == (invoice_id, "open", "USD")
    assert snapshot.customer_id == customer
    # localstripe sends both the pre-2025 ``subscription`` and the newer ``parent`` shape.
    assert snapshot.subscription_id == subscription["id"]
    # Its invoices carry no default_payment_method: found through the customer's settings.
    assert snapshot.default_payment_method_id == declining
    # Not asserted: snapshot.amount_remaining. localstripe's Invoice has no amount_remaining
    # field (Stripe always sends it), and the gateway reads a missing one as 0.
    raw = await peer.get(f"/v1/invoices/{invoice_id}")
    assert (raw["amount_due"], raw.get("amount_remaining")) == (1500, None)


async def test_an_invoice_the_processor_does_not_have_is_refused(gateway: StripeGateway) -> None:
    with pytest.raises(ProcessorRefused):
        await gateway.invoice(CREDS, "in_NotInLocalstripe", None)


async def test_cancel_subscription_ends_it_at_the_processor(
    peer: LocalStripe, gateway: StripeGateway
) -> None:
    customer = await peer.customer()
    await peer.make_default(customer, await peer.card(customer))
    subscription = await peer.subscription(customer, amount=900, currency="eur")
    assert subscription["status"] == "active"

    await gateway.cancel_subscription(CREDS, subscription["id"], None)

    ended = await peer.get(f"/v1/subscriptions/{subscription['id']}")
    assert ended["status"] == "canceled"
    assert ended["ended_at"] is not None


async def test_stored_methods_default_first_expired_kept(peer: LocalStripe, gateway: StripeGateway) -> None:
    await skip_unless_implemented(peer, "GET", "/v1/customers/cus_probe/payment_methods")
    customer = await peer.customer()
    # localstripe refuses expiry years before 2019; 2020 is long past.
    expired = await peer.card(customer, exp=(1, 2020))
    default = await peer.card(customer, exp=(12, 2030))
    await peer.make_default(customer, default)

    methods = {m.id: m for m in await gateway.stored_methods(CREDS, customer, None)}

    assert set(methods) == {expired, default}
    assert methods[default].is_default
    assert not methods[expired].is_default
    # The gateway reports expiry as the processor has it; the domain decides what expired means.
    assert (methods[expired].exp_month, methods[expired].exp_year) == (1, 2020)
    assert methods[expired].kind == "card"


async def test_off_session_payment_with_a_good_card_pays_the_invoice(
    peer: LocalStripe, gateway: StripeGateway
) -> None:
    await skip_unless_implemented(peer, "POST", "/v1/invoices/in_probe/pay", PAY_PARAMS)
    customer = await peer.customer()
    declining = await peer.card(customer, number=CHARGE_DECLINED_CARD)
    good = await peer.card(customer)
    await peer.make_default(customer, declining)
    invoice_id = (await peer.subscription(customer, amount=1200, currency="usd"))["latest_invoice"]

    result = await gateway.pay(
        CREDS, invoice_id, payment_method_id=good, idempotency_key=f"{invoice_id}:2:{good}", account=None
    )

    assert result.succeeded
    assert result.payment_intent_id
    assert (await peer.get(f"/v1/invoices/{invoice_id}"))["status"] == "paid"


async def test_a_declined_off_session_payment_is_an_outcome(
    peer: LocalStripe, gateway: StripeGateway
) -> None:
    await skip_unless_implemented(peer, "POST", "/v1/invoices/in_probe/pay", PAY_PARAMS)
    customer = await peer.customer()
    declining = await peer.card(customer, number=CHARGE_DECLINED_CARD)
    await peer.make_default(customer, declining)
    invoice_id = (await peer.subscription(customer, amount=1200, currency="usd"))["latest_invoice"]

    result = await gateway.pay(
        CREDS, invoice_id, payment_method_id=declining, idempotency_key=f"{invoice_id}:2", account=None
    )

    assert not result.succeeded
    # localstripe's declining cards carry Stripe's code only, never an issuer decline_code.
    assert result.failure_code == "card_declined"
    assert (await peer.get(f"/v1/invoices/{invoice_id}"))["status"] == "open"


async def test_one_idempotency_key_charges_at_most_once(peer: LocalStripe, gateway: StripeGateway) -> None:
    await skip_unless_implemented(peer, "POST", "/v1/invoices/in_probe/pay", PAY_PARAMS)
    customer = await peer.customer()
    declining = await peer.card(customer, number=CHARGE_DECLINED_CARD)
    good = await peer.card(customer)
    await peer.make_default(customer, declining)
    invoice_id = (await peer.subscription(customer, amount=1200, currency="usd"))["latest_invoice"]
    key = f"{invoice_id}:2:{good}"

    first = await gateway.pay(CREDS, invoice_id, payment_method_id=good, idempotency_key=key, account=None)
    assert first.succeeded
    # localstripe 1.15.10 never reads Idempotency-Key (nothing in its source does), so it cannot
    # replay the first answer as Stripe would: it runs the call afresh, and a paid invoice
    # refuses to be paid again. What matters still holds: one charge.
    with pytest.raises(ProcessorRefused, match="already paid"):
        await gateway.pay(CREDS, invoice_id, payment_method_id=good, idempotency_key=key, account=None)
    charges = (await peer.get(f"/v1/charges?customer={customer}"))["data"]
    assert [c["status"] for c in charges if c["payment_method"] == good] == ["succeeded"]


async def test_mark_uncollectible_closes_the_invoice(peer: LocalStripe, gateway: StripeGateway) -> None:
    await skip_unless_implemented(peer, "POST", "/v1/invoices/in_probe/mark_uncollectible")
    customer = await peer.customer()
    await peer.make_default(customer, await peer.card(customer, number=CHARGE_DECLINED_CARD))
    invoice_id = (await peer.subscription(customer, amount=1200, currency="usd"))["latest_invoice"]

    await gateway.mark_uncollectible(CREDS, invoice_id, None)

    assert (await peer.get(f"/v1/invoices/{invoice_id}"))["status"] == "uncollectible"


async def test_webhooks_signed_by_localstripe_pass_our_signature_check(
    peer: LocalStripe, client: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    catcher = WebhookCatcher()
    with serve_in_thread(catcher.app) as catcher_url:
        # localstripe signs each delivery Stripe's way (t=<created>,v1=HMAC-SHA256 of "t.body").
        registered = await peer.http.post(
            "/_config/webhooks/dunning-peer-test",
            json={
                "url": f"{catcher_url}/hook",
                "secret": tenant.stripe_webhook_secret,
                "events": ["invoice.payment_failed", "payment_intent.payment_failed"],
            },
        )
        registered.raise_for_status()
        customer = await peer.customer()
        await peer.make_default(customer, await peer.sepa_debit(customer, iban=FAILING_IBAN))
        # Its first SEPA debit fails asynchronously: both failure events follow, a second apart.
        invoice_id = (await peer.subscription(customer, amount=2500, currency="eur"))["latest_invoice"]
        caught = await _deliveries_for(catcher, customer, wanted=2)

    url = f"/v1/webhooks/stripe/{tenant.tenant_id}"
    intent_failed = caught["payment_intent.payment_failed"]
    accepted = await client.post(url, content=intent_failed.body, headers=_forwarded(intent_failed))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["events"] == ["payment.failed"]
    assert json.loads(intent_failed.body)["data"]["object"]["invoice"] == invoice_id

    # Signature verified, then the body refused: localstripe's invoices lack amount_remaining,
    # which Stripe always sends and our invoice mapping requires.
    invoice_failed = caught["invoice.payment_failed"]
    refused = await client.post(url, content=invoice_failed.body, headers=_forwarded(invoice_failed))
    assert refused.status_code == 400
    assert refused.json()["type"] == PROBLEMS + "malformed-event"
    assert "amount_remaining" in refused.json()["detail"]

    # And the check is real: the same bytes under the other event's signature are not accepted.
    forged = {**_forwarded(intent_failed), "Stripe-Signature": invoice_failed.headers["stripe-signature"]}
    rejected = await client.post(url, content=intent_failed.body, headers=forged)
    assert rejected.status_code == 400
    assert rejected.json()["type"] == PROBLEMS + "invalid-signature"


async def _deliveries_for(
    catcher: WebhookCatcher, customer_id: str, *, wanted: int
) -> dict[str, CaughtWebhook]:
    """The first delivery of each event type about ``customer_id``; others (earlier tests) are skipped."""
    found: dict[str, CaughtWebhook] = {}
    while len(found) < wanted:
        delivery = await catcher.next()
        event = json.loads(delivery.body)
        if event["data"]["object"].get("customer") == customer_id:
            found.setdefault(event["type"], delivery)
    return found


def _forwarded(delivery: CaughtWebhook) -> dict[str, str]:
    return {
        "Content-Type": delivery.headers["content-type"],
        "Stripe-Signature": delivery.headers["stripe-signature"],
    }
