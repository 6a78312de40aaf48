"""The collections API end to end over HTTP: promises kept and broken (dunning resumes through the
outbox), disputes answered both ways, settlements with four eyes and their CSV, notes and tasks,
and the bad input an API meets (malformed, oversized, replayed keys, another tenant's ids)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.integration.retry.test_cases import deliver, payment_event, published

from dunning.common.clock import FixedClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.tenancy.service import CreatedTenant
from dunning.retry.collections.charging import CollectionsGateway
from dunning.retry.collections.tables import promises
from dunning.retry.collections.worker import CollectionsWorker
from dunning.retry.tables import timeline

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def open_case(
    client: httpx.AsyncClient, db: Database, tenant: CreatedTenant, invoice: str = "in_c1"
) -> str:
    await deliver(
        db, payment_event("payment.failed", invoice_id=invoice, tenant_id=tenant.tenant_id, amount=4500)
    )
    found = (await client.get(f"/v1/cases?invoice_id={invoice}", headers=auth(tenant.api_key))).json()
    return str(found["data"][0]["id"])


async def run_checks(db: Database, box: SecretBox, at: datetime) -> None:
    gateway = CollectionsGateway(api_base="http://127.0.0.1:9")  # no Stripe key: never called
    try:
        await CollectionsWorker(db, box, gateway, FixedClock(at), worker_id="t").run_due()
    finally:
        await gateway.close()


async def status(client: httpx.AsyncClient, tenant: CreatedTenant, case_id: str) -> Any:
    return (await client.get(f"/v1/cases/{case_id}", headers=auth(tenant.api_key))).json()


async def test_a_broken_promise_resumes_the_case_and_says_so(
    client: httpx.AsyncClient, clean_db: Database, box: SecretBox, tenant: CreatedTenant
) -> None:
    case_id = await open_case(client, clean_db, tenant)
    pay_by = (datetime.now(UTC) + timedelta(days=3)).date()
    answer = await client.post(
        f"/v1/cases/{case_id}/promises", json={"pay_by": pay_by.isoformat()}, headers=auth(tenant.api_key)
    )
    assert answer.status_code == 200, answer.text
    case = await status(client, tenant, case_id)
    assert (case["status"], case["pause_reasons"]) == ("paused", ["promise_to_pay"])
    # Before the end of the promised day nothing happens; after it, the promise is broken.
    await run_checks(clean_db, box, datetime.now(UTC) + timedelta(days=2))
    assert (await status(client, tenant, case_id))["status"] == "paused"
    await run_checks(clean_db, box, datetime.now(UTC) + timedelta(days=5))
    case = await status(client, tenant, case_id)
    assert case["status"] == "open"
    assert [e["type"] for e in case["timeline"] if e["kind"] == "collections"] == [
        "promise.made",
        "promise.broken",
    ]
    events = [e for e in await published(clean_db) if e.type.startswith("dunning.case.")]
    assert [e.type for e in events][-2:] == ["dunning.case.promise_broken.v1", "dunning.case.resumed.v1"]
    assert events[-1].data["cause_type"] == "collections.promise_broken"
    paused = next(e for e in events if e.type == "dunning.case.paused.v1")
    assert paused.data["pause_reasons"] == ["promise_to_pay"]


async def test_a_kept_promise(
    client: httpx.AsyncClient, clean_db: Database, box: SecretBox, tenant: CreatedTenant
) -> None:
    case_id = await open_case(client, clean_db, tenant)
    pay_by = (datetime.now(UTC) + timedelta(days=1)).date()
    await client.post(
        f"/v1/cases/{case_id}/promises", json={"pay_by": pay_by.isoformat()}, headers=auth(tenant.api_key)
    )
    await deliver(
        clean_db, payment_event("invoice.paid", invoice_id="in_c1", tenant_id=tenant.tenant_id, minutes=5)
    )
    await run_checks(clean_db, box, datetime.now(UTC) + timedelta(days=3))
    async with clean_db.engine.connect() as conn:
        assert await conn.scalar(select(promises.c.status)) == "kept"
    assert (await status(client, tenant, case_id))["status"] == "recovered"
    assert "dunning.case.promise_kept.v1" in [e.type for e in await published(clean_db)]


async def test_promise_limits_and_bad_input(
    client: httpx.AsyncClient, clean_db: Database, tenant: CreatedTenant
) -> None:
    case_id = await open_case(client, clean_db, tenant)
    key = auth(tenant.api_key)
    far = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    refused = await client.post(f"/v1/cases/{case_id}/promises", json={"pay_by": far}, headers=key)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("promise-too-far")
    for bad in ({"pay_by": "tomorrow"}, {"pay_by": "2026-12-01", "extra": 1}, {}):
        assert (await client.post(f"/v1/cases/{case_id}/promises", json=bad, headers=key)).status_code == 422
    huge = {"kind": "note", "body": "x" * 10_001}
    assert (await client.post(f"/v1/cases/{case_id}/notes", json=huge, headers=key)).status_code == 422
    nul = {"reason": "other", "details": "a\x00b"}
    assert (await client.post(f"/v1/cases/{case_id}/disputes", json=nul, headers=key)).status_code == 422
    bad_policy = (await client.get("/v1/collections-policy", headers=key)).json() | {
        "max_instalments": 10**20
    }
    assert (await client.put("/v1/collections-policy", json=bad_policy, headers=key)).status_code == 422
    bad_policy = (await client.get("/v1/collections-policy", headers=key)).json() | {
        "min_instalment_amount": {"E\x00R": 5}
    }
    assert (await client.put("/v1/collections-policy", json=bad_policy, headers=key)).status_code == 422


async def test_disputes_hold_dunning_and_are_answered_both_ways(
    client: httpx.AsyncClient, clean_db: Database, tenant: CreatedTenant
) -> None:
    key = auth(tenant.api_key)
    for invoice, outcome, after in (("in_d1", "rejected", "open"), ("in_d2", "upheld", "written_off")):
        case_id = await open_case(client, clean_db, tenant, invoice)
        opened = await client.post(
            f"/v1/cases/{case_id}/disputes",
            json={"reason": "wrong_amount", "details": "charged twice"},
            headers=key,
        )
        assert opened.json()["status"] == "paused"
        again = await client.post(f"/v1/cases/{case_id}/disputes", json={"reason": "other"}, headers=key)
        assert again.status_code == 409
        tasks = (await client.get("/v1/tasks?kind=dispute_awaiting_answer", headers=key)).json()["data"]
        dispute_id = next(t["object_id"] for t in tasks if t["case_id"] == case_id)
        resolved = await client.post(
            f"/v1/cases/{case_id}/disputes/{dispute_id}/resolve",
            json={"outcome": outcome, "note": "checked the order"},
            headers=key,
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["status"] == after
    types = [e.type for e in await published(clean_db)]
    assert types.count("dunning.case.disputed.v1") == 2
    assert types.count("dunning.case.dispute_resolved.v1") == 2
    assert "dunning.case.written_off.v1" in types


async def test_a_settlement_needs_a_second_admin_key_and_is_exported(
    client: httpx.AsyncClient, clean_db: Database, tenant: CreatedTenant
) -> None:
    key = auth(tenant.api_key)
    case_id = await open_case(client, clean_db, tenant)
    reader = (await client.post("/v1/api-keys", json={"scopes": ["write"], "label": "w"}, headers=key)).json()
    admin = (await client.post("/v1/api-keys", json={"scopes": ["admin"], "label": "a"}, headers=key)).json()
    for amount in (0, 4500, 9000):
        bad = await client.post(
            f"/v1/cases/{case_id}/settlements", json={"amount": amount, "reason": "x"}, headers=key
        )
        assert bad.status_code in (409, 422), amount
    headers = {**key, "Idempotency-Key": "offer-1"}
    offer = {"amount": 3000, "reason": '=HYPERLINK("evil")'}
    proposed = await client.post(f"/v1/cases/{case_id}/settlements", json=offer, headers=headers)
    replayed = await client.post(f"/v1/cases/{case_id}/settlements", json=offer, headers=headers)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.json() == proposed.json()
    other = await client.post(
        f"/v1/cases/{case_id}/settlements", json={"amount": 10, "reason": "y"}, headers=headers
    )
    assert other.status_code == 422  # the same key for another request
    sid = proposed.json()["id"]
    path = f"/v1/cases/{case_id}/settlements/{sid}/approve"
    assert (await client.post(path, headers=auth(reader["key"]))).status_code == 403
    assert (await client.post(path, headers=key)).status_code == 409  # the proposer's own key
    approved = await client.post(path, json={"note": "ok"}, headers=auth(admin["key"]))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "paused"
    tasks = (await client.get("/v1/tasks", headers=key)).json()["data"]
    assert [t["kind"] for t in tasks] == ["instalment_due"]
    note = await client.post(
        f"/v1/cases/{case_id}/notes", json={"kind": "agreement", "body": "30 EUR"}, headers=key
    )
    assert note.status_code == 200
    notes = (await client.get(f"/v1/cases/{case_id}/notes", headers=key)).json()["data"]
    assert [(n["kind"], n["body"]) for n in notes] == [("agreement", "30 EUR")]
    reason = {"reason": "goodwill", "note": "@SUM(A1)"}
    written = await client.post(f"/v1/cases/{case_id}/write-off", json=reason, headers=key)
    assert written.status_code == 200, written.text
    exported = await client.get("/v1/exports/adjustments.csv", headers=key)
    assert exported.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (row["case_id"], row["kind"], row["reason"]) == (case_id, "write_off", "goodwill")
    assert (row["original_amount_minor"], row["written_off_minor"], row["written_off"]) == (
        "4500",
        "4500",
        "45.00",
    )
    assert row["note"] == "'@SUM(A1)"  # a formula stays text in a spreadsheet
    async with clean_db.engine.connect() as conn:
        kinds = (
            await conn.execute(select(timeline.c.type).where(timeline.c.kind == "collections"))
        ).scalars()
        assert {"settlement.proposed", "settlement.approved", "note.agreement"} <= set(kinds)
