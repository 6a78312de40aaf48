"""What notify learns and decides beyond the happy path: contact details from the processor's
customer (the Stripe fake), the embedded mailbox without SMTP, Regulation F's validation notice,
pre-dunning card notices, fees in the words, and SMS HELP."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from tests.integration.conftest import make_tenant
from tests.integration.notify.conftest import NotifyWorld
from tests.support.stripe_fake import FakeStripe

from dunning.common.crypto import SecretBox
from dunning.common.events.envelope import make_event
from dunning.common.events.payment import PaymentEventType, PaymentMethodData, UpcomingInvoiceData
from dunning.common.tenancy.service import CreatedTenant, set_processor_key
from dunning.notify.app import dispatcher as make_dispatcher
from dunning.notify.channels.sms import sign_twilio_request
from dunning.notify.policy_schema import TENANT_DEFAULT, NotifyPolicyBody

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def acme(world: NotifyWorld, box: SecretBox) -> CreatedTenant:
    tenant = await make_tenant(world.db, box, name="Acme")
    world.tenant_id = tenant.tenant_id
    return tenant


def auth(tenant: CreatedTenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


async def set_policy(http: httpx.AsyncClient, tenant: CreatedTenant, **changes: object) -> None:
    body = TENANT_DEFAULT.model_dump(mode="json") | changes
    NotifyPolicyBody.model_validate(body)
    answer = await http.put("/v1/escalation-policy", json=body, headers=auth(tenant))
    assert answer.status_code == 200, answer.text


async def test_the_processors_customer_fills_in_phone_and_language(
    world: NotifyWorld,
    acme: CreatedTenant,
    box: SecretBox,
    fake: FakeStripe,
    stripe_server: tuple[FakeStripe, str],
) -> None:
    fake.add_customer(
        id="cus_1", phone="+82 10-1234-5678", preferred_locales=["ko-KR"], email="min@example.kr"
    )
    async with world.db.unit_of_work() as uow:
        await set_processor_key(uow.session, box, acme.tenant_id, "stripe", "sk_test_notify_" + "x" * 12)
        await uow.commit()
    settings = world.settings.model_copy(update={"stripe_api_base": stripe_server[1]})
    dispatcher, close = make_dispatcher(settings, world.db, box, worker_id="enricher", clock=world.clock)
    world.dispatcher = dispatcher
    try:
        await world.set_contact(time_zone="Asia/Seoul")
        world.clock.advance(timedelta(hours=10))  # 10:00 in Seoul
        await world.open_case()
        for days in (3, 4, 0):
            await world.run()
            world.clock.advance(timedelta(days=days))
    finally:
        await close()
    [sms] = world.sms.messages
    assert sms.to == "+821012345678"
    assert "수신거부" in sms.body  # Korean wording, Korean opt-out line
    emails = world.smtp.messages
    # The platform never gave an email override: the event's address stays ahead of nothing,
    # but the processor's customer object is a better source than the invoice event.
    assert {m.rcpt_tos for m in emails} == {("min@example.kr",)}
    assert emails[0].message["Content-Language"] == "ko"


async def test_without_smtp_mail_is_written_and_listed_by_the_api(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient, box: SecretBox
) -> None:
    settings = world.settings.model_copy(update={"smtp_url": None})
    dispatcher, close = make_dispatcher(settings, world.db, box, worker_id="files", clock=world.clock)
    world.dispatcher = dispatcher
    try:
        await world.open_case()
        await world.run()
    finally:
        await close()
    listed = await http.get("/v1/mail", headers=auth(acme))
    assert listed.status_code == 200
    [item] = listed.json()
    assert item["to"].endswith("<jo@example.com>") or item["to"] == "jo@example.com"
    raw = await http.get(f"/v1/mail/{item['name']}", headers=auth(acme))
    assert raw.headers["content-type"].startswith("message/rfc822")
    assert b"List-Unsubscribe:" in raw.content
    assert (await http.get("/v1/mail/..%2Fsecret.key", headers=auth(acme))).status_code == 404
    other = await make_tenant(world.db, box, name="Other")
    assert (await http.get("/v1/mail", headers=auth(other))).json() == []
    assert world.smtp.messages == []


async def test_third_party_collectors_send_the_validation_notice_first(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient
) -> None:
    await set_policy(http, acme, compliance={"regime": "third_party_consumer"})
    await world.set_contact(opt_out_channels=[])
    case_id = await world.open_case()
    await world.run()
    [first] = [r for r in await world.deliveries(case_id=case_id) if r["channel"] == "email"]
    assert first["status"] == "sent"
    world.clock.advance(timedelta(days=3))
    await world.run()
    assert len(world.smtp.messages) == 2  # the notice went out, so later levels may follow

    # A customer with no email address on file: the notice is suppressed, with its reason recorded.
    other = await world.open_case("in_2", customer_id="cus_2", customer_email=None)
    await world.run()
    rows = [r for r in await world.deliveries(case_id=other) if r["channel"] == "email"]
    assert [(r["status"], r["reason_code"]) for r in rows] == [("suppressed", "no_address")]


async def test_card_expiring_notices_only_when_the_tenant_turns_them_on(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient
) -> None:
    def expiring() -> object:
        data = PaymentMethodData(
            tenant_id=acme.tenant_id,
            provider="stripe",
            provider_event_id="evt_exp",
            provider_event_type="customer.source.expiring",
            livemode=False,
            occurred_at=world.clock.now(),
            customer_id="cus_1",
            change="expiring",
            payment_method_id="pm_1",
            card_brand="visa",
            card_last4="4242",
            card_exp_month=4,
            card_exp_year=2026,
        )
        return make_event(
            event_id=f"e-{world.clock.now().timestamp()}",
            source="/test",
            type=PaymentEventType.CARD_EXPIRING.cloudevents_type,
            subject=f"{acme.tenant_id}:customer:cus_1",
            time=world.clock.now(),
            tenant_id=acme.tenant_id,
            data=data,
        )

    await world.set_contact(email="jo@example.com")
    await world.feed(expiring())  # type: ignore[arg-type]
    await world.run()
    assert world.smtp.messages == []
    await set_policy(http, acme, pre_dunning={"card_expiring": True, "channels": ["email"]})
    world.clock.advance(timedelta(minutes=1))
    await world.feed(expiring(), expiring())  # type: ignore[arg-type]
    await world.run()
    [mail] = world.smtp.wait_for(1)
    text = mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "4242" in text


async def test_fees_and_statutory_interest_appear_in_a_b2b_reminder(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient
) -> None:
    await set_policy(
        http,
        acme,
        dunning_fee={"fixed": {"EUR": 500}, "from_level": 1},
        late_charges={"enabled": True, "reference_rate_percent": "2.15", "margin_points": "8"},
    )
    await world.set_contact(customer_type="b2b")
    due = world.clock.now() - timedelta(days=27)
    await world.open_case(
        payment={"currency": "EUR", "amount": 100_000, "amount_due": 100_000, "due_date": due},
        currency="EUR",
        amount=100_000,
    )
    await world.run()
    world.clock.advance(timedelta(days=3))  # 30 days late at the reminder
    await world.run()
    reminder = world.smtp.wait_for(2)[1]
    text = reminder.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    # 1000.00 EUR x 10.15% x 30/365 = 8.34; EUR 40 compensation; the EUR 5 fee is covered by it
    # (Directive 2011/7/EU Art. 6(3)), so it adds nothing on top.
    assert "€8.34" in text
    assert "€40.00" in text


@pytest.mark.usefixtures("acme")
async def test_sms_help_answers_who_we_are(world: NotifyWorld, http: httpx.AsyncClient) -> None:
    url = "https://dunning.example.com/v1/sms/inbound"
    form = {"From": "+12125550100", "Body": "HELP"}
    signature = sign_twilio_request(world.sms.auth_token, url, form)
    answer = await http.post("/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200
    assert "Reply STOP to opt out" in answer.text


async def test_an_upcoming_renewal_is_announced_once_when_turned_on(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient
) -> None:
    renews = world.clock.now() + timedelta(days=7)

    def upcoming(event_id: str) -> object:
        data = UpcomingInvoiceData(
            tenant_id=acme.tenant_id,
            provider="stripe",
            provider_event_id=event_id,
            provider_event_type="invoice.upcoming",
            livemode=False,
            occurred_at=world.clock.now(),
            customer_id="cus_1",
            subscription_id="sub_1",
            customer_email="jo@example.com",
            amount_due=120_000,
            currency="JPY",
            renews_at=renews,
        )
        return make_event(
            event_id=event_id,
            source="/test",
            type=PaymentEventType.INVOICE_UPCOMING.cloudevents_type,
            subject=f"{acme.tenant_id}:customer:cus_1",
            time=world.clock.now(),
            tenant_id=acme.tenant_id,
            data=data,
        )

    await set_policy(http, acme, pre_dunning={"upcoming_renewal": True, "channels": ["email", "in_app"]})
    await world.feed(upcoming("evt_a"), upcoming("evt_b"))  # type: ignore[arg-type]
    await world.run()
    [mail] = world.smtp.wait_for(1)
    text = mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "¥120,000" in text or "￥120,000" in text
    rows = await world.deliveries(template="upcoming_renewal")
    assert sorted(r["channel"] for r in rows) == ["email", "in_app"]
    assert all(r["case_id"] is None for r in rows)
