"""The B2B track: per-customer payment terms and extra contacts (PUT /v1/customers/{id}/b2b), and
demand letters as PDF at 30/60/90 days overdue, each once per case, to the billing address and
every extra contact, over the real SMTP server; the PDFs parsed back and checked for amounts."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pypdf import PdfReader
from tests.integration.conftest import make_tenant
from tests.integration.notify.conftest import START, NotifyWorld

from dunning.common.crypto import SecretBox
from dunning.common.tenancy.service import CreatedTenant
from dunning.notify import demand_letters
from dunning.notify.policy_schema import TENANT_DEFAULT

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

CONTACTS = [
    {"email": "Finance@Globex.example", "role": "finance", "name": "Accounts payable"},
    {"email": "ceo@globex.example", "role": "owner"},
]


@pytest_asyncio.fixture
async def acme(world: NotifyWorld, box: SecretBox) -> CreatedTenant:
    tenant = await make_tenant(world.db, box, name="Acme")
    world.tenant_id = tenant.tenant_id
    return tenant


def auth(tenant: CreatedTenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


async def b2b_policy(http: httpx.AsyncClient, tenant: CreatedTenant, **b2b: Any) -> None:
    body = TENANT_DEFAULT.model_dump(mode="json") | {
        "compliance": {"regime": "b2b"},
        "late_charges": {"enabled": True, "reference_rate_percent": "2.15", "margin_points": "8"},
        "sender": {"merchant_name": "Acme GmbH", "support_email": "billing@acme.example"},
        "b2b": {"demand_letter_days": [30, 60, 90], "pay_within_days": 14, **b2b},
    }
    answer = await http.put("/v1/escalation-policy", json=body, headers=auth(tenant))
    assert answer.status_code == 200, answer.text


def pdf_text(pdf: bytes) -> str:
    """The letter's text with line breaks and runs of spaces as one space (lines wrap)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def letters_in(world: NotifyWorld) -> list[tuple[tuple[str, ...], bytes]]:
    found = []
    for received in world.smtp.messages:
        for part in received.message.iter_attachments():
            if part.get_content_type() == "application/pdf":
                found.append((received.rcpt_tos, part.get_content()))
    return found


async def test_letters_fire_once_per_threshold_to_every_contact_with_interest_and_compensation(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient, box: SecretBox
) -> None:
    await b2b_policy(http, acme)
    terms = {"payment_terms_days": 20, "contacts": CONTACTS}
    put = await http.put("/v1/customers/cus_1/b2b", json=terms, headers=auth(acme))
    assert put.status_code == 200, put.text
    # Invoice 1 was due when its case opened; invoice 2 has no due date: net 20 from the opening.
    eur = {"currency": "EUR", "amount": 100_000, "amount_due": 100_000}
    case_1 = await world.open_case("in_1", payment={**eur, "due_date": START}, currency="EUR", amount=100_000)
    eur2 = {"currency": "EUR", "amount": 50_000, "amount_due": 50_000, "due_date": None}
    await world.open_case(
        "in_2", payment={**eur2, "invoice_number": "INV-0043"}, currency="EUR", amount=50_000
    )

    for _ in range(29):
        world.clock.advance(timedelta(days=1))
        await world.run()
    assert await world.deliveries(channel="b2b_letter") == []
    world.clock.advance(timedelta(days=1))  # 1 April 2026: invoice 1 is 30 days overdue
    await world.run()
    rows = await world.deliveries(channel="b2b_letter")
    assert sorted(r["address"] for r in rows) == [
        "ceo@globex.example",
        "finance@globex.example",
        "jo@example.com",
    ]
    assert {r["status"] for r in rows} == {"sent"}
    assert {r["level_name"] for r in rows} == {"demand letter, 30 days overdue"}
    letters = letters_in(world)
    assert sorted(to for to, _ in letters) == [
        ("ceo@globex.example",),
        ("finance@globex.example",),
        ("jo@example.com",),
    ]
    pdfs = {pdf for _, pdf in letters}
    assert len(pdfs) == 1  # the same letter (deterministic) to each of the three

    text = pdf_text(pdfs.pop())
    assert "Demand for payment" in text
    assert "Creditor: Acme GmbH <billing@acme.example>" in text
    assert "Debtor: Jo Doe (Customer number: cus_1)" in text
    assert "Date: Apr 1, 2026" in text
    # 1000.00 x 10.15% x 30/365 = 8.34; 500.00 (due 22 March, net 20) x 10.15% x 10/365 = 1.39.
    assert re.search(
        r"INV-0042 \| Due Mar 2, 2026 \| Days overdue 30 \| Amount €1,000.00 \| "
        r"Interest €8.34 \| Compensation €40.00",
        text,
    )
    assert re.search(
        r"INV-0043 \| Due Mar 22, 2026 \| Days overdue 10 \| Amount €500.00 \| "
        r"Interest €1.39 \| Compensation €40.00",
        text,
    )
    assert "Total due: €1,589.73" in text
    assert "Please pay €1,589.73 by Apr 15, 2026." in text
    assert "10.15% a year (the reference rate of 2.15% plus 8 percentage points)" in text
    assert "Agreed payment terms: net 20 days." in text
    assert "Pay online: https://" in text

    # Replaying the walk and the dispatch plans nothing new; the timer itself fires nothing again.
    await world.run()
    async with world.db.unit_of_work() as uow:
        assert await demand_letters.fire_due(uow.session, now=world.clock.now(), batch=50) == 0
        await uow.commit()
    assert len(await world.deliveries(channel="b2b_letter")) == 3

    # The API serves the stored PDF to its tenant only.
    first = rows[0]
    served = await http.get(f"/v1/notifications/{first['id']}/letter.pdf", headers=auth(acme))
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/pdf"
    assert "Total due: €1,589.73" in pdf_text(served.content)
    other = await make_tenant(world.db, box, name="Other")
    assert (
        await http.get(f"/v1/notifications/{first['id']}/letter.pdf", headers=auth(other))
    ).status_code == 404
    assert (await http.get("/v1/notifications/nope/letter.pdf", headers=auth(acme))).status_code == 404

    for _ in range(60):  # to day 90: case 1 at 60 and 90, case 2 (due day 20) at 50 and 80
        world.clock.advance(timedelta(days=1))
        await world.run()
    names = sorted(r["level_name"] for r in await world.deliveries(channel="b2b_letter", case_id=case_1))
    assert names == sorted(
        f"demand letter, {days} days overdue" for days in (30, 30, 30, 60, 60, 60, 90, 90, 90)
    )
    assert len(await world.deliveries(channel="b2b_letter")) == 15  # 5 firings x 3 recipients


async def test_a_paid_case_stops_its_letters_and_a_late_case_sends_only_the_latest(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient
) -> None:
    from dunning.common.events.recovery import RecoveryEventType

    await b2b_policy(http, acme)
    # Opened 65 days after its due date: only the 60-day letter goes; 30 counts as passed.
    late = START - timedelta(days=65)
    case_id = await world.open_case(
        "in_1", payment={"currency": "EUR", "amount": 20_000, "amount_due": 20_000, "due_date": late}
    )
    await world.run()
    [row] = await world.deliveries(channel="b2b_letter")
    assert row["level_name"] == "demand letter, 60 days overdue"
    await world.feed(world.case_event(RecoveryEventType.CASE_RECOVERED, case_id, "in_1"))
    world.clock.advance(timedelta(days=30))
    await world.run()
    assert len(await world.deliveries(channel="b2b_letter")) == 1


async def test_b2b_settings_are_validated_and_tenant_scoped(
    world: NotifyWorld, acme: CreatedTenant, http: httpx.AsyncClient, box: SecretBox
) -> None:
    path = "/v1/customers/cus_9/b2b"
    assert (await http.get(path, headers=auth(acme))).status_code == 404
    good = {"payment_terms_days": 60, "contacts": CONTACTS}
    put = await http.put(path, json=good, headers=auth(acme))
    assert put.status_code == 200, put.text
    assert put.json()["contacts"][0] == {
        "email": "Finance@globex.example",
        "role": "finance",
        "name": "Accounts payable",
    }
    assert (await http.get(path, headers=auth(acme))).json()["payment_terms_days"] == 60

    many = [{"email": f"p{i}@globex.example"} for i in range(11)]
    bad_bodies: list[Any] = [
        {"payment_terms_days": -1},
        {"payment_terms_days": 181},
        {"contacts": [{"email": "not-an-address"}]},
        {"contacts": [{"email": "a@globex.example", "role": "boss"}]},
        {"contacts": many},
        {"contacts": [{"email": "a@globex.example"}, {"email": "A@globex.example"}]},
        {"unknown": 1},
        "net 30",
    ]
    for body in bad_bodies:
        answer = await http.put(path, json=body, headers=auth(acme))
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    malformed = await http.put(
        path, content=b"{nope", headers={**auth(acme), "Content-Type": "application/json"}
    )
    assert malformed.status_code in (400, 422)
    long_id = await http.put(f"/v1/customers/{'x' * 256}/b2b", json=good, headers=auth(acme))
    assert long_id.status_code == 422
    other = await make_tenant(world.db, box, name="Other")
    assert (await http.get(path, headers=auth(other))).status_code == 404
    assert (await http.get(path, headers=auth(acme))).json()["payment_terms_days"] == 60

    policy = TENANT_DEFAULT.model_dump(mode="json") | {"b2b": {"demand_letter_days": [60, 30]}}
    refused = await http.put("/v1/escalation-policy", json=policy, headers=auth(acme))
    assert refused.status_code == 422
    assert "strictly increasing" in refused.text
