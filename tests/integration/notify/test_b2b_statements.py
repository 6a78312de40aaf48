"""B2B statements and the letters' sending window (ADR 0010): a business customer's level message
lists every unpaid invoice with the total, once per customer, level and day; a consumer still gets
one message per invoice; a demand letter whose threshold passes at night waits for office hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tests.integration.conftest import make_tenant
from tests.integration.notify.conftest import START, NotifyWorld

from dunning.common.crypto import SecretBox
from dunning.common.tenancy.service import CreatedTenant
from dunning.notify.policy_schema import TENANT_DEFAULT

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

EUR = {"currency": "EUR", "due_date": None}


@pytest_asyncio.fixture
async def acme(world: NotifyWorld, box: SecretBox) -> CreatedTenant:
    tenant = await make_tenant(world.db, box, name="Acme")
    world.tenant_id = tenant.tenant_id
    return tenant


async def use_policy(http: httpx.AsyncClient, tenant: CreatedTenant, **changes: Any) -> None:
    body = TENANT_DEFAULT.model_dump(mode="json") | {
        "sender": {"merchant_name": "Acme GmbH", "support_email": "billing@acme.example"},
        **changes,
    }
    answer = await http.put(
        "/v1/escalation-policy", json=body, headers={"Authorization": f"Bearer {tenant.api_key}"}
    )
    assert answer.status_code == 200, answer.text


async def open_eur_case(world: NotifyWorld, invoice_id: str, number: str, amount: int, **payment: Any) -> str:
    money = {"amount": amount, "amount_due": amount, "invoice_number": number}
    return await world.open_case(
        invoice_id, payment={**EUR, **money, **payment}, currency="EUR", amount=amount
    )


def at(world: NotifyWorld, moment: datetime) -> None:
    world.clock.advance(moment - world.clock.now())


def plain_texts(world: NotifyWorld) -> list[str]:
    texts = []
    for received in world.smtp.messages:
        message = received.message
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        assert isinstance(body, EmailMessage)
        texts.append(body.get_content().replace("\r\n", "\n"))
    return texts


async def test_two_invoices_reaching_a_level_the_same_day_make_one_statement_with_the_total(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient
) -> None:
    await use_policy(http, acme, compliance={"regime": "b2b"})
    case_1 = await open_eur_case(world, "in_1", "INV-0042", 100_000)
    case_2 = await open_eur_case(world, "in_2", "INV-0043", 50_000, due_date=START - timedelta(days=10))
    await world.run()

    [statement] = plain_texts(world)
    assert "Unpaid invoices:\n" in statement
    assert "INV-0043, due Feb 20, 2026, 10 days overdue: €500.00\n" in statement
    assert "INV-0042, due Mar 2, 2026, 0 days overdue: €1,000.00\n" in statement
    assert "Total due: €1,500.00" in statement
    assert statement.index("INV-0043") < statement.index("INV-0042")  # oldest due first

    emails = await world.deliveries(channel="email")
    [sent] = [r for r in emails if r["status"] == "sent"]
    [covered] = [r for r in emails if r["status"] == "suppressed"]
    assert {sent["case_id"], covered["case_id"]} == {case_1, case_2}
    assert covered["reason_code"] == "covered_by_statement"
    assert sent["id"] in covered["note"]
    assert sent["facts"]["statement"]["cases"] == [case_2, case_1]
    # The in-app feed gets the statement once too.
    notices = await world.deliveries(channel="in_app")
    assert sorted(r["status"] for r in notices) == ["sent", "suppressed"]
    [notice] = [r for r in notices if r["status"] == "sent"]
    assert "Total due: €1,500.00" in notice["body_text"]
    # The covered case's timeline says why it got no message of its own (the email and in-app
    # statements may each have gone out under either case).
    suppressed = [e for e in await world.outbox() if e.type == "dunning.notification.suppressed.v1"]
    assert sorted((e.data["channel"], e.data["reason_code"]) for e in suppressed) == [
        ("email", "covered_by_statement"),
        ("in_app", "covered_by_statement"),
    ]
    assert covered["case_id"] in {e.data["case_id"] for e in suppressed if e.data["channel"] == "email"}

    # Another round sends nothing again.
    await world.run()
    assert len(world.smtp.messages) == 1

    # An invoice that fails after today's statement went out is not claimed covered by it: its
    # case sends a statement of its own, listing all three.
    world.clock.advance(timedelta(hours=1))
    case_3 = await open_eur_case(world, "in_3", "INV-0044", 20_000)
    await world.run()
    assert len(world.smtp.messages) == 2
    later = plain_texts(world)[1]
    assert "INV-0044, due Mar 2, 2026, 0 days overdue: €200.00" in later
    assert "Total due: €1,700.00" in later
    [third] = await world.deliveries(channel="email", case_id=case_3)
    assert third["status"] == "sent"


async def test_a_consumer_still_gets_one_message_per_invoice(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient
) -> None:
    await use_policy(http, acme)
    await open_eur_case(world, "in_1", "INV-0042", 100_000)
    await open_eur_case(world, "in_2", "INV-0043", 50_000)
    await world.run()

    texts = plain_texts(world)
    assert len(texts) == 2
    assert sorted("INV-0042" in t for t in texts) == [False, True]
    assert all("Unpaid invoices" not in t for t in texts)
    assert {r["status"] for r in await world.deliveries(channel="email")} == {"sent"}


async def test_a_demand_letter_reached_at_night_waits_for_office_hours(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient
) -> None:
    await use_policy(http, acme, compliance={"regime": "b2b"}, b2b={"demand_letter_days": [30]})
    # Helsinki (UTC+2 in March): the 30-day threshold passes at midnight UTC, 02:00 local.
    due = START - timedelta(days=29)
    await open_eur_case(world, "in_1", "INV-0042", 100_000, due_date=due, customer_country="FI")
    await world.run()

    at(world, datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    await world.run()
    [letter] = await world.deliveries(channel="b2b_letter")
    assert letter["status"] == "scheduled"
    assert letter["next_attempt_at"] == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)  # 08:00 in Helsinki
    assert "08:00" in letter["note"]
    assert letter["attempts"] == 0  # a deferral is not an attempt

    at(world, datetime(2026, 3, 3, 5, 59, tzinfo=UTC))
    await world.run()
    assert (await world.deliveries(channel="b2b_letter"))[0]["status"] == "scheduled"

    at(world, datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    await world.run()
    [sent] = await world.deliveries(channel="b2b_letter")
    assert sent["status"] == "sent"
    assert sent["sent_at"] == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
