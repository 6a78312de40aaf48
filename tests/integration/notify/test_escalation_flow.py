"""A case's messages end to end on real PostgreSQL, a real SMTP server and an SMS sink: the
friendly email at once, levels on schedule, recovery stopping the next one, quiet hours,
opt-outs recorded with their reason, and nothing sent twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.integration.notify.conftest import NotifyWorld

from dunning.common.events.recovery import RecoveryEventType
from dunning.notify import delivery_store, repository

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def test_a_failed_payment_gets_the_friendly_email_at_once(world: NotifyWorld) -> None:
    case_id = await world.open_case()
    await world.run()

    [mail] = world.smtp.wait_for(1)
    assert mail.rcpt_tos == ("jo@example.com",)
    message = mail.message
    assert "Jo Doe" in message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "$49.00" in text
    assert "https://pay.example.com/i/1" in text
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://dunning.example.com/v1/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    rows = await world.deliveries(case_id=case_id)
    assert {(r["level"], r["channel"], r["status"]) for r in rows} == {
        (0, "email", "sent"),
        (0, "in_app", "sent"),
    }
    types = [e.type for e in await world.outbox()]
    assert types.count("dunning.notification.sent.v1") == 2
    assert "dunning.escalation.level_changed.v1" in types


async def test_levels_follow_the_schedule_and_recovery_stops_the_next_one(world: NotifyWorld) -> None:
    case_id = await world.open_case()
    await world.run()
    world.clock.advance(timedelta(days=3))
    await world.run()
    assert len(world.smtp.wait_for(2)) == 2  # friendly, then the day-3 reminder

    await world.feed(world.case_event(RecoveryEventType.CASE_RECOVERED, case_id, "in_1"))
    world.clock.advance(timedelta(days=30))
    await world.run()

    assert len(world.smtp.messages) == 2  # nothing after the recovery
    rows = await world.deliveries(case_id=case_id, channel="email")
    assert [(r["level"], r["status"]) for r in rows] == [(0, "sent"), (1, "sent")]
    async with world.db.unit_of_work() as uow:
        escalation = await repository.escalation(uow.session, world.tenant_id, case_id)
    assert escalation is not None
    assert (escalation["status"], escalation["status_note"]) == ("stopped", "the invoice was paid")


async def test_recovery_cancels_a_message_waiting_for_morning(world: NotifyWorld) -> None:
    # 03:00 in Tokyo (the platform set the customer's zone): due, but waits for 08:00 local time.
    night = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    world.clock.advance(night - world.clock.now())
    await world.set_contact(time_zone="Asia/Tokyo")
    case_id = await world.open_case(opened_at=night)
    await world.run()
    [email] = await world.deliveries(case_id=case_id, channel="email")
    assert email["status"] == "scheduled"
    assert email["next_attempt_at"] == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 08:00 JST
    assert "Asia/Tokyo" in email["note"]
    assert world.smtp.messages == []

    await world.feed(world.case_event(RecoveryEventType.CASE_RECOVERED, case_id, "in_1"))
    world.clock.advance(timedelta(hours=6))
    await world.run()
    [email] = await world.deliveries(case_id=case_id, channel="email")
    assert email["status"] == "canceled"
    assert world.smtp.messages == []


async def test_a_three_am_level_waits_until_eight_local_time(world: NotifyWorld) -> None:
    night = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 03:00 in Tokyo
    world.clock.advance(night - world.clock.now())
    # The billing address is in Japan: one zone, Asia/Tokyo.
    await world.open_case(opened_at=night, payment={"customer_country": "JP", "customer_region": None})
    await world.run()
    assert world.smtp.messages == []
    world.clock.advance(timedelta(hours=4, minutes=59))  # 07:59 JST
    await world.run()
    assert world.smtp.messages == []
    world.clock.advance(timedelta(minutes=1))  # 08:00 JST
    await world.run()
    assert len(world.smtp.wait_for(1)) == 1


async def test_an_unsubscribe_suppresses_the_channel_and_says_why(
    world: NotifyWorld, http: httpx.AsyncClient
) -> None:
    case_id = await world.open_case()
    await world.run()
    [mail] = world.smtp.wait_for(1)
    link = mail.message["List-Unsubscribe"].split(">")[0].lstrip("<")
    # RFC 8058 one-click, as a mailbox provider sends it.
    answer = await http.post(
        link,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    again = await http.post(link, content=b"List-Unsubscribe=One-Click")
    assert again.status_code == 200  # idempotent: still unsubscribed, no second event
    world.clock.advance(timedelta(days=3))
    await world.run()

    assert len(world.smtp.messages) == 1
    reminder = [r for r in await world.deliveries(case_id=case_id, channel="email") if r["level"] == 1]
    assert reminder[0]["status"] == "suppressed"
    assert reminder[0]["reason_code"] == "opted_out_address"
    assert "opted out" in reminder[0]["note"]
    events = await world.outbox()
    suppressed = [e for e in events if e.type == "dunning.notification.suppressed.v1"]
    assert [e.data["reason_code"] for e in suppressed] == ["opted_out_address"]
    assert [e.type for e in events].count("dunning.customer.opted_out.v1") == 1


async def test_sms_goes_out_on_the_firm_level_and_a_provider_opt_out_is_recorded(world: NotifyWorld) -> None:
    await world.set_contact(phone="+1 (212) 555-0100")
    case_id = await world.open_case()
    for days in (3, 4, 0):  # friendly (day 0), reminder (day 3), firm (day 7: email + sms)
        await world.run()
        world.clock.advance(timedelta(days=days))
    [sms] = world.sms.messages
    assert sms.to == "+12125550100"
    assert "STOP" in sms.body
    assert sms.idempotency_token == f"{world.tenant_id}:{case_id}:2:sms"

    world.sms.fail("+12125550100", 21610)  # the carrier holds a STOP for this number
    world.clock.advance(timedelta(days=7))
    await world.run()
    final = [r for r in await world.deliveries(case_id=case_id, channel="sms") if r["level"] == 3]
    assert final[0]["status"] == "suppressed"
    assert final[0]["reason_code"] == "provider_opt_out"
    async with world.db.unit_of_work() as uow:
        opted = await repository.opted_out_addresses(uow.session, world.tenant_id, [("sms", "+12125550100")])
    assert opted == {("sms", "+12125550100")}
    [event] = [e for e in await world.outbox() if e.type == "dunning.customer.opted_out.v1"]
    assert (event.data["source"], event.data["address"]) == ("provider", "***0100")


async def test_duplicate_events_and_a_second_worker_send_nothing_twice(world: NotifyWorld) -> None:
    invoice = "in_dupe"
    opened = world.case_event(RecoveryEventType.CASE_OPENED, "case_dupe", invoice)
    await world.feed(opened, opened)  # redelivered by the broker: the inbox is the consumer's, the
    # escalation row is keyed by case, so even without the inbox nothing doubles
    await world.run()
    await world.run()
    world.clock.advance(timedelta(minutes=30))
    await world.run()
    assert len(world.smtp.messages) == 1
    rows = await world.deliveries(case_id="case_dupe")
    assert len(rows) == 2


async def test_a_worker_killed_mid_send_is_replaced_and_the_resend_is_recognisable(
    world: NotifyWorld,
) -> None:
    case_id = await world.open_case()
    await world.walker.walk_due()
    # A worker that claimed the messages and died before recording anything.
    async with world.db.unit_of_work() as uow:
        claimed, _ = await delivery_store.claim_due(
            uow.session, now=world.clock.now(), worker="dead-worker", batch=10, ttl=timedelta(minutes=5)
        )
        await uow.commit()
    assert len(claimed) == 2
    while await world.dispatcher.send_due():
        pass
    assert world.smtp.messages == []  # still claimed by the dead worker
    world.clock.advance(timedelta(minutes=6))
    while await world.dispatcher.send_due():
        pass
    [mail] = world.smtp.wait_for(1)
    rows = await world.deliveries(case_id=case_id, channel="email")
    assert rows[0]["status"] == "sent"
    assert rows[0]["attempts"] == 2
    assert mail.message["Message-ID"] == rows[0]["provider_message_id"]


async def test_a_slow_worker_renews_its_claim_before_sending_so_nobody_takes_it_over(
    world: NotifyWorld,
) -> None:
    """Found by the chaos run: on a loaded machine a worker spent longer than the claim TTL
    between claiming a batch and sending; another replica took the claim over and both sent the
    same email. The claim is renewed when the worker decides to send, right before it does."""
    await world.open_case()
    await world.walker.walk_due()
    ttl = timedelta(minutes=5)
    async with world.db.unit_of_work() as uow:
        claimed, _ = await delivery_store.claim_due(
            uow.session, now=world.clock.now(), worker="slow-worker", batch=10, ttl=ttl
        )
        await uow.commit()
    assert len(claimed) == 2
    world.clock.advance(timedelta(minutes=4))  # slow, but still within its claim
    async with world.db.unit_of_work() as uow:
        for row in claimed:
            assert await delivery_store.lock_claimed(
                uow.session, row["id"], "slow-worker", now=world.clock.now()
            )
        await uow.commit()
    world.clock.advance(timedelta(minutes=2))  # past the first claim's TTL: it is sending now
    async with world.db.unit_of_work() as uow:
        taken = await delivery_store.claim_due(
            uow.session, now=world.clock.now(), worker="other-worker", batch=10, ttl=ttl
        )
        await uow.commit()
    assert taken == ([], [])


async def test_a_worker_killed_after_handing_an_email_over_is_not_followed_by_a_second_copy(
    world: NotifyWorld,
) -> None:
    """Found by the chaos run (16 duplicates in 2000 with SIGKILLed notify replicas): a worker
    killed between the SMTP server's acceptance and its own record left the row ``sending``, and
    the next claim sent the message again. The hand-off is now committed before the server gets
    the end of data; a claim that expires after it counts as sent, told once, never resent."""
    case_id = await world.open_case()
    await world.walker.walk_due()
    ttl = timedelta(minutes=5)
    async with world.db.unit_of_work() as uow:
        claimed, _ = await delivery_store.claim_due(
            uow.session, now=world.clock.now(), worker="dead-worker", batch=10, ttl=ttl
        )
        [email_row] = [row for row in claimed if row["channel"] == "email"]
        # It rendered, passed the commit point, delivered, and died before recording "sent".
        assert await delivery_store.hand_off(
            uow.session, email_row["id"], "dead-worker", now=world.clock.now()
        )
        await uow.commit()
    world.clock.advance(timedelta(minutes=6))
    while await world.dispatcher.send_due():
        pass

    assert world.smtp.messages == []  # the dead worker's copy is the only one
    [row] = await world.deliveries(case_id=case_id, channel="email")
    assert row["status"] == "sent"
    assert row["attempts"] == 1
    assert "not sent again" in row["note"]
    sent = [e for e in await world.outbox() if e.type == "dunning.notification.sent.v1"]
    assert [e.data["channel"] for e in sent].count("email") == 1


async def test_a_worker_whose_claim_was_taken_does_not_hand_the_email_over(world: NotifyWorld) -> None:
    await world.open_case()
    await world.walker.walk_due()
    async with world.db.unit_of_work() as uow:
        claimed, _ = await delivery_store.claim_due(
            uow.session, now=world.clock.now(), worker="slow-worker", batch=10, ttl=timedelta(minutes=5)
        )
        await uow.commit()
    async with world.db.unit_of_work() as uow:
        for row in claimed:
            assert not await delivery_store.hand_off(
                uow.session, row["id"], "another-worker", now=world.clock.now()
            )
        await uow.commit()


async def test_collections_hand_off_emits_the_case_file(world: NotifyWorld) -> None:
    case_id = await world.open_case()
    for _ in range(6):
        await world.run()
        world.clock.advance(timedelta(days=5))
    events = await world.outbox()
    [handed] = [e for e in events if e.type == "dunning.collections.handed_off.v1"]
    assert handed.data["case_id"] == case_id
    assert handed.data["amount"] == 4900
    assert handed.data["agency_delivery"] == "not_configured"
    assert handed.data["customer_email"] == "j***@example.com"  # masked on the topic
    assert [m["level"] for m in handed.data["messages"] if m["channel"] == "email"] == [0, 1, 2, 3, 4]


async def test_pause_holds_and_resume_moves_the_schedule(world: NotifyWorld) -> None:
    case_id = await world.open_case()
    await world.run()
    world.clock.advance(timedelta(days=1))
    await world.feed(
        world.case_event(RecoveryEventType.CASE_DISPUTED, case_id, "in_1", pause_reasons=["dispute"])
    )
    world.clock.advance(timedelta(days=10))
    await world.run()
    assert len(world.smtp.messages) == 1
    await world.feed(world.case_event(RecoveryEventType.CASE_RESUMED, case_id, "in_1"))
    await world.run()
    assert len(world.smtp.messages) == 1  # the day-3 reminder is now due on day 13
    world.clock.advance(timedelta(days=2))
    await world.run()
    assert len(world.smtp.wait_for(2)) == 2
