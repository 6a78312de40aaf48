"""Internal escalation: at the tenant's chosen level the account owner or the sales team gets the
case summary by email (the real SMTP server) and in their chat (a Slack-shaped HTTP sink), once,
whatever the customer's quiet hours, opt-outs and caps say."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.integration.conftest import make_tenant
from tests.integration.notify.conftest import NotifyWorld
from tests.support.chat_sink import ChatSink
from tests.support.chat_sink import create_app as create_chat_app
from tests.support.servers import serve_in_thread

from dunning.common.crypto import SecretBox
from dunning.common.events.envelope import make_event
from dunning.common.events.recovery import AttemptEventData, RecoveryEventType
from dunning.notify import repository
from dunning.notify.policy_schema import TENANT_DEFAULT, NotifyPolicyBody

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

HOOK_PATH = "/services/T000/B000/XXXX"


@pytest.fixture(scope="module")
def chat() -> Iterator[tuple[ChatSink, str]]:
    sink = ChatSink()
    with serve_in_thread(create_chat_app(sink)) as url:
        yield sink, url + HOOK_PATH


async def alert_at(world: NotifyWorld, **alert: Any) -> None:
    body = TENANT_DEFAULT.model_dump(mode="json") | {"internal_escalation": {"enabled": True, **alert}}
    body["sender"] = {"merchant_name": "Acme Cloud"}
    async with world.db.unit_of_work() as uow:
        await repository.save_policy(uow.session, world.tenant_id, NotifyPolicyBody.model_validate(body))
        await uow.commit()


def attempt_failed(world: NotifyWorld, case_id: str, invoice_id: str) -> Any:
    data = AttemptEventData(
        tenant_id=world.tenant_id,
        case_id=case_id,
        invoice_id=invoice_id,
        attempt_id=f"att_{uuid.uuid4().hex[:8]}",
        attempt_number=2,
        due_at=world.clock.now(),
        reason="payday",
        decline_code="insufficient_funds",
        occurred_at=world.clock.now(),
    )
    return make_event(
        event_id=str(uuid.uuid4()),
        source="/dunning/retry",
        type=RecoveryEventType.ATTEMPT_FAILED.cloudevents_type,
        subject=f"{world.tenant_id}:{invoice_id}",
        time=world.clock.now(),
        tenant_id=world.tenant_id,
        data=data,
    )


async def walk_days(world: NotifyWorld, *days: int) -> None:
    for step in days:
        world.clock.advance(timedelta(days=step))
        await world.run()


async def test_the_team_gets_the_case_summary_by_email_and_chat_once(
    world: NotifyWorld, chat: tuple[ChatSink, str]
) -> None:
    sink, hook = chat
    sink.reset()
    await alert_at(
        world, level="reminder", recipients=["Sales@Acme.example", "cfo@acme.example"], chat_webhook_url=hook
    )
    case_id = await world.open_case("in_1", payment={"due_date": None})
    await world.feed(attempt_failed(world, case_id, "in_1"))
    await world.run()  # level 0: the customer's friendly email only
    assert {m.rcpt_tos for m in world.smtp.messages} == {("jo@example.com",)}
    assert sink.posts == []

    await walk_days(world, 3)  # level 1, "reminder": the team hears of it
    internal = [m for m in world.smtp.messages if m.rcpt_tos != ("jo@example.com",)]
    assert sorted(m.rcpt_tos for m in internal) == [("cfo@acme.example",), ("sales@acme.example",)]
    mail = internal[0].message
    assert mail["Subject"] == "[Dunning] Jo Doe owes $49.00, 3 days overdue: case reached 'reminder'"
    assert mail["List-Unsubscribe"] is None  # nobody to unsubscribe: it is the tenant's own team
    text = mail.get_content().replace("\r\n", "\n")
    assert "Customer: Jo Doe (cus_1)" in text
    assert "- INV-0042: $49.00, due Mar 2, 2026, 3 days overdue" in text
    assert "Payment attempts (1):\n- Mar 2, 2026: failed (insufficient_funds)" in text
    assert "- friendly by email: sent on Mar 2, 2026" in text
    assert f"Case page: https://dunning.example.com/dashboard/#/cases/{case_id}" in text
    [post] = sink.posts
    assert post["text"].startswith("*[Dunning] Jo Doe owes $49.00")
    assert "INV-0042" in post["text"]

    rows = await world.deliveries(channel="internal_chat")
    assert [(r["status"], r["address"], r["level_name"]) for r in rows] == [("sent", "127.0.0.1", "reminder")]
    # Replaying the walk and the dispatch sends nothing twice; later levels alert nobody.
    await world.run()
    await walk_days(world, 4)
    assert len([m for m in world.smtp.messages if m.rcpt_tos != ("jo@example.com",)]) == 2
    assert len(sink.posts) == 1
    sent = [e for e in await world.outbox() if e.type == "dunning.notification.sent.v1"]
    assert {e.data["channel"] for e in sent} >= {"internal_email", "internal_chat"}


async def test_the_account_owner_replaces_the_team_and_quiet_hours_do_not_apply(
    world: NotifyWorld, chat: tuple[ChatSink, str]
) -> None:
    sink, _ = chat
    sink.reset()
    await alert_at(world, level=0, recipients=["sales@acme.example"])
    # 00:00 in Tokyo and opted out of email: the customer's message waits or is suppressed,
    # the owner's alert goes now.
    await world.set_contact(
        time_zone="Asia/Tokyo", account_owner_email="owner@acme.example", opt_out_channels=["email"]
    )
    await world.open_case("in_2")
    await world.run()
    assert [m.rcpt_tos for m in world.smtp.messages] == [("owner@acme.example",)]
    [customer_email] = await world.deliveries(channel="email")
    assert customer_email["status"] == "suppressed"
    [alert] = await world.deliveries(channel="internal_email")
    assert alert["status"] == "sent"
    [level] = [e for e in await world.outbox() if e.type == "dunning.escalation.level_changed.v1"][-1:]
    assert (
        "the team is told by internal_email (internal: customer quiet hours, opt-outs and caps"
        in (level.data["note"])
    )
    assert sink.posts == []  # no chat webhook configured


async def test_a_paid_case_alerts_nobody_and_a_dead_webhook_fails_on_record(
    world: NotifyWorld, chat: tuple[ChatSink, str]
) -> None:
    sink, hook = chat
    sink.reset()
    await alert_at(world, level="reminder", chat_webhook_url=hook, owner_override=False)
    case_id = await world.open_case("in_3")
    await world.run()
    # The walker plans the alert; the case is paid before the dispatcher gets to it.
    world.clock.advance(timedelta(days=3))
    await world.walker.walk_due()
    await world.feed(world.case_event(RecoveryEventType.CASE_RECOVERED, case_id, "in_3"))
    while await world.dispatcher.send_due():
        pass
    [alert] = await world.deliveries(channel="internal_chat")
    assert alert["status"] == "canceled"
    assert sink.posts == []

    sink.status = 404  # Slack's answer for a revoked webhook: permanent
    case_id = await world.open_case("in_4")
    await world.run()
    await walk_days(world, 3)
    [_, alert] = await world.deliveries(channel="internal_chat")
    assert (alert["status"], alert["reason_code"]) == ("failed", "http_404")


async def test_the_api_refuses_an_unsafe_chat_url_and_keeps_the_account_owner(
    world: NotifyWorld, http: httpx.AsyncClient, box: SecretBox
) -> None:
    tenant = await make_tenant(world.db, box, name="Acme")
    auth = {"Authorization": f"Bearer {tenant.api_key}"}
    body = TENANT_DEFAULT.model_dump(mode="json") | {
        "internal_escalation": {"enabled": True, "chat_webhook_url": "http://hooks.example.com/x"}
    }
    refused = await http.put("/v1/escalation-policy", json=body, headers=auth)
    assert refused.status_code == 422
    assert "https" in refused.text
    body["internal_escalation"]["chat_webhook_url"] = "https://hooks.example.com/services/T/B/X"
    assert (await http.put("/v1/escalation-policy", json=body, headers=auth)).status_code == 200
    stored = (await http.get("/v1/escalation-policy", headers=auth)).json()
    assert stored["internal_escalation"]["enabled"] is True

    contact = {"name": "Globex", "account_owner_email": "owner@acme.example"}
    put = await http.put("/v1/customers/cus_9/contact", json=contact, headers=auth)
    assert put.status_code == 200, put.text
    assert put.json()["override"]["account_owner_email"] == "owner@acme.example"
    bad = await http.put("/v1/customers/cus_9/contact", json={"account_owner_email": "nope"}, headers=auth)
    assert bad.status_code == 422
