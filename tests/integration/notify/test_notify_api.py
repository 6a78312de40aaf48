"""The notify API with a tenant's key: policy, templates and preview, contacts, notifications
and the in-app feed, webhook endpoints (Standard Webhooks, verified with its library),
unsubscribe links, inbound STOP — and that one tenant never sees another's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.integration.conftest import make_tenant
from tests.integration.notify.conftest import NotifyWorld
from tests.support.servers import serve_in_thread

from dunning.common.crypto import SecretBox
from dunning.common.tenancy.service import CreatedTenant
from dunning.notify.channels.sms import sign_twilio_request

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def auth(tenant: CreatedTenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


@pytest_asyncio.fixture
async def acme(world: NotifyWorld, box: SecretBox) -> CreatedTenant:
    tenant = await make_tenant(world.db, box, name="Acme")
    world.tenant_id = tenant.tenant_id
    return tenant


async def test_the_escalation_policy_is_validated_with_the_walkers_words(
    http: httpx.AsyncClient, acme: CreatedTenant
) -> None:
    got = await http.get("/v1/escalation-policy", headers=auth(acme))
    assert got.status_code == 200
    policy = got.json()
    assert policy["policies"]["default"]["levels"][0]["name"] == "friendly"

    policy["policies"]["default"]["levels"][1]["offset_hours"] = 0
    policy["policies"]["default"]["levels"][0]["offset_hours"] = 24
    refused = await http.put("/v1/escalation-policy", json=policy, headers=auth(acme))
    assert refused.status_code == 422
    assert "due before the level above it" in refused.text

    policy = got.json()
    policy["compliance"] = {"regime": "third_party_consumer", "window_end": "22:30"}
    refused = await http.put("/v1/escalation-policy", json=policy, headers=auth(acme))
    assert refused.status_code == 422  # Regulation F: no contact after 21:00

    policy = got.json()
    policy["policies"]["b2b"] = policy["policies"]["default"]
    policy["segments"] = [{"policy": "b2b", "customer_type": "b2b"}]
    policy["default_locale"] = "ja"
    saved = await http.put("/v1/escalation-policy", json=policy, headers=auth(acme))
    assert saved.status_code == 200
    again = await http.get("/v1/escalation-policy", headers=auth(acme))
    assert again.json()["segments"] == [saved.json()["segments"][0]]
    assert again.json()["default_locale"] == "ja"


async def test_templates_override_preview_and_revert(http: httpx.AsyncClient, acme: CreatedTenant) -> None:
    url = "/v1/templates/reminder/email/en"
    default = await http.get(url, headers=auth(acme))
    assert default.json()["source"] == "default"

    typo = {"subject": "Hi {{ customer_nme }}", "text": "Pay {{ amount }}"}
    refused = await http.put(url, json=typo, headers=auth(acme))
    assert refused.status_code == 422
    assert "customer_nme" in refused.text

    body = {
        "subject": "About {{ invoice_number }}",
        "text": "{{ customer_name }}, {{ amount }} is still open.",
    }
    assert (await http.put(url, json=body, headers=auth(acme))).status_code == 200
    stored = await http.get(url, headers=auth(acme))
    assert (stored.json()["source"], stored.json()["subject"]) == ("tenant", body["subject"])

    preview = await http.post(
        "/v1/templates/preview",
        json={"template": "reminder", "channel": "email", "locale": "en"},
        headers=auth(acme),
    )
    assert preview.status_code == 200
    assert preview.json()["subject"] == "About INV-2025-0042"
    assert "unsubscribe" in preview.json()["text"].lower()  # the opt-out footer is always added

    ja = await http.post(
        "/v1/templates/preview",
        json={"template": "friendly", "channel": "sms", "locale": "ja"},
        headers=auth(acme),
    )
    assert "￥" in ja.json()["text"] or "¥" in ja.json()["text"]
    assert ja.json()["sms_segments"] >= 1

    assert (await http.delete(url, headers=auth(acme))).status_code == 204
    assert (await http.get(url, headers=auth(acme))).json()["source"] == "default"
    assert (await http.get("/v1/templates/nope/email/en", headers=auth(acme))).status_code == 404
    assert (await http.get("/v1/templates/reminder/email/fr", headers=auth(acme))).status_code == 404


async def test_a_sandboxed_template_cannot_reach_python(http: httpx.AsyncClient, acme: CreatedTenant) -> None:
    evil = {"subject": "x", "text": "{{ amount.__class__.__mro__[1].__subclasses__() }}"}
    refused = await http.put("/v1/templates/friendly/email/en", json=evil, headers=auth(acme))
    assert refused.status_code == 422


async def test_contacts_notifications_and_the_in_app_feed(
    world: NotifyWorld, http: httpx.AsyncClient, acme: CreatedTenant, box: SecretBox
) -> None:
    put = await http.put(
        "/v1/customers/cus_1/contact",
        json={"phone": "+81 90 1234 5678", "locale": "ja-JP", "time_zone": "Asia/Tokyo"},
        headers=auth(acme),
    )
    assert put.status_code == 200
    assert put.json()["effective"]["locale"] == "ja"
    assert put.json()["effective"]["time_zones"] == ["Asia/Tokyo"]
    bad_zone = await http.put(
        "/v1/customers/cus_1/contact", json={"time_zone": "Mars/Base"}, headers=auth(acme)
    )
    assert bad_zone.status_code == 422

    world.clock.advance(timedelta(hours=9))  # 00:00 UTC = 09:00 in Tokyo
    case_id = await world.open_case()
    await world.run()

    listed = await http.get(f"/v1/notifications?case_id={case_id}", headers=auth(acme))
    assert listed.status_code == 200
    rows = listed.json()["data"]
    assert {(r["channel"], r["status"]) for r in rows} == {("email", "sent"), ("in_app", "sent")}
    email = next(r for r in rows if r["channel"] == "email")
    assert email["locale"] == "ja"
    assert email["address"] == "j***@example.com"
    assert "様" in email["body_text"]

    feed = await http.get("/v1/customers/cus_1/notices", headers=auth(acme))
    [notice] = feed.json()["data"]
    assert notice["case_id"] == case_id
    assert notice["title"]

    other = await make_tenant(world.db, box, name="Other")
    assert (await http.get(f"/v1/notifications?case_id={case_id}", headers=auth(other))).json()["data"] == []
    assert (await http.get("/v1/customers/cus_1/contact", headers=auth(other))).status_code == 404
    assert (await http.get("/v1/customers/cus_1/notices", headers=auth(other))).json()["data"] == []
    assert (await http.get("/v1/notifications")).status_code == 401


@pytest.fixture
def receiver() -> Iterator[tuple[list[tuple[bytes, dict[str, str]]], str]]:
    seen: list[tuple[bytes, dict[str, str]]] = []
    lock = threading.Lock()

    async def hook(request: Request) -> Response:
        body = await request.body()
        with lock:
            seen.append((body, dict(request.headers)))
        return Response(status_code=204)

    with serve_in_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        yield seen, f"{url}/hook"


async def test_platform_webhooks_are_signed_per_standard_webhooks(
    world: NotifyWorld,
    http: httpx.AsyncClient,
    acme: CreatedTenant,
    receiver: tuple[list[tuple[bytes, dict[str, str]]], str],
) -> None:
    seen, url = receiver
    read_only = {"Authorization": f"Bearer {acme.api_key}"}
    configured = await http.put("/v1/notification-endpoints/platform", json={"url": url}, headers=read_only)
    assert configured.status_code == 200
    secret = configured.json()["secret"]
    assert secret.startswith("whsec_")
    listed = await http.get("/v1/notification-endpoints", headers=auth(acme))
    assert listed.json()[0]["secret"] is None  # shown once

    policy = (await http.get("/v1/escalation-policy", headers=auth(acme))).json()
    policy["policies"]["default"]["levels"][0]["channels"] = ["webhook"]
    assert (await http.put("/v1/escalation-policy", json=policy, headers=auth(acme))).status_code == 200
    case_id = await world.open_case()
    await world.run()

    [(body, headers)] = seen
    payload: Any = Webhook(secret).verify(body, headers)
    assert payload["type"] == "dunning.notice"
    assert payload["data"]["case_id"] == case_id
    assert payload["data"]["amount"] == 4900
    tampered = body.replace(b"4900", b"1")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(secret).verify(tampered, headers)


async def test_one_click_unsubscribe_page_and_bad_tokens(
    world: NotifyWorld, http: httpx.AsyncClient, acme: CreatedTenant
) -> None:
    await world.open_case()
    await world.run()
    [mail] = world.smtp.wait_for(1)
    link = mail.message["List-Unsubscribe"].split(">")[0].lstrip("<")
    page = await http.get(link)
    assert page.status_code == 200
    assert '<form method="post"' in page.text  # a GET never unsubscribes (link scanners)
    assert (await http.get(link[:-3] + "xyz")).status_code == 404
    assert (await http.post("/v1/unsubscribe/not-a-token-at-all")).status_code == 404
    contact = await http.get("/v1/customers/cus_1/contact", headers=auth(acme))
    assert contact.json()["opt_outs"] == []
    assert (await http.post(link)).status_code == 200
    contact = await http.get("/v1/customers/cus_1/contact", headers=auth(acme))
    assert [(o["channel"], o["source"]) for o in contact.json()["opt_outs"]] == [
        ("email", "unsubscribe_link")
    ]


@pytest.mark.usefixtures("acme")
async def test_an_inbound_stop_opts_the_number_out(world: NotifyWorld, http: httpx.AsyncClient) -> None:
    await world.set_contact(phone="+12125550100")
    await world.open_case()
    for days in (3, 4, 0):
        await world.run()
        world.clock.advance(timedelta(days=days))
    assert len(world.sms.messages) == 1

    url = "https://dunning.example.com/v1/sms/inbound"
    form = {"From": "+12125550100", "To": "+15005550006", "Body": "Stop please"}
    forged = await http.post("/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": "AAAA"})
    assert forged.status_code == 403
    signature = sign_twilio_request(world.sms.auth_token, url, form)
    answered = await http.post("/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert answered.status_code == 200
    assert answered.text == "<Response/>"

    world.clock.advance(timedelta(days=7))
    await world.run()
    assert len(world.sms.messages) == 1
    final = [r for r in await world.deliveries(channel="sms") if r["level"] == 3]
    assert (final[0]["status"], final[0]["reason_code"]) == ("suppressed", "opted_out_address")
    events = [e for e in await world.outbox() if e.type == "dunning.customer.opted_out.v1"]
    assert [(e.data["source"], e.data["opted_in"]) for e in events] == [("sms_keyword", False)]


async def test_the_collections_agency_receives_the_signed_case_file(
    world: NotifyWorld,
    http: httpx.AsyncClient,
    acme: CreatedTenant,
    receiver: tuple[list[tuple[bytes, dict[str, str]]], str],
) -> None:
    seen, url = receiver
    configured = await http.put("/v1/notification-endpoints/agency", json={"url": url}, headers=auth(acme))
    secret = configured.json()["secret"]
    case_id = await world.open_case()
    for days in (3, 4, 7, 7, 0):  # day 0, 3, 7, 14, 21 (the hand-off)
        await world.run()
        world.clock.advance(timedelta(days=days))

    [(body, headers)] = seen
    case_file: Any = Webhook(secret).verify(body, headers)
    assert case_file["case_id"] == case_id
    assert (case_file["amount"], case_file["currency"]) == (4900, "USD")
    assert case_file["agency_delivery"] == "pending"
    emails = [(m["template"], m["status"]) for m in case_file["messages"] if m["channel"] == "email"]
    assert emails == [
        ("friendly", "sent"),
        ("reminder", "sent"),
        ("firm", "sent"),
        ("final_notice", "sent"),
        ("collections", "scheduled"),  # the customer's own notice of the hand-off, planned with it
    ]
    [agency] = await world.deliveries(channel="agency")
    assert agency["status"] == "sent"
    metrics = (await http.get("/metrics")).text
    assert 'dunning_messages_total{channel="agency",outcome="sent"}' in metrics
    assert 'dunning_escalation_levels_total{level="collections"}' in metrics


async def test_malformed_and_oversized_input_gets_a_clear_problem(
    http: httpx.AsyncClient, acme: CreatedTenant
) -> None:
    broken = await http.put(
        "/v1/escalation-policy",
        content=b"{not json",
        headers={**auth(acme), "content-type": "application/json"},
    )
    assert broken.status_code == 422
    assert broken.headers["content-type"].startswith("application/problem+json")
    huge = {"subject": "x", "text": "a" * 20_001}
    assert (
        await http.put("/v1/templates/friendly/email/en", json=huge, headers=auth(acme))
    ).status_code == 422
    unknown_key = {"subject": "x", "text": "y", "css": "z"}
    assert (
        await http.put("/v1/templates/friendly/email/en", json=unknown_key, headers=auth(acme))
    ).status_code == 422
    long_token = "a" * 5000
    assert (await http.post(f"/v1/unsubscribe/{long_token}")).status_code in (404, 422)
    big_form = b"Body=" + b"x" * 20_000
    answer = await http.post(
        "/v1/sms/inbound", content=big_form, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413
    read_only = await http.put(
        "/v1/notification-endpoints/platform", json={"url": "ftp://nope"}, headers=auth(acme)
    )
    assert read_only.status_code == 422
