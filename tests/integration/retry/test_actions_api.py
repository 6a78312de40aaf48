"""POST /v1/cases/{id}/pause|resume|write-off|retry: what an operator can do, and what is refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.integration.conftest import make_tenant
from tests.integration.retry.test_cases import deliver, payment_event, published
from tests.integration.retry.test_planning import NOW

from dunning.common.clock import FixedClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.tenancy.service import CreatedTenant, create_api_key
from dunning.retry import repository
from dunning.retry.domain.policy import RetryMode, RetryPolicy
from dunning.retry.policy_schema import from_domain
from dunning.retry.tables import attempts, cases

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def open_case(db: Database, tenant: CreatedTenant, *, own_retries: bool = False, **data: Any) -> str:
    if own_retries:
        body = from_domain(RetryPolicy(mode=RetryMode.OWN_RETRIES)).model_dump(mode="json")
        async with db.unit_of_work() as uow:
            await repository.put_policy(uow.session, tenant.tenant_id, body)
            await uow.commit()
    event = payment_event("payment.failed", tenant_id=tenant.tenant_id, **data)
    await deliver(db, event, now=NOW)
    async with db.engine.connect() as conn:
        return str(
            await conn.scalar(select(cases.c.id).where(cases.c.invoice_id == event.data["invoice_id"]))
        )


@pytest.fixture(autouse=True)
def fixed_clock(client: httpx.AsyncClient) -> None:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    transport.app.state.clock = FixedClock(NOW)  # type: ignore[attr-defined]


async def test_pause_resume_and_write_off_walk_the_lifecycle(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    case_id = await open_case(clean_db, tenant, charge_id="ch_1")
    headers = bearer(tenant.api_key)
    paused = await client.post(f"/v1/cases/{case_id}/pause", headers=headers)
    assert paused.json() == {"case_id": case_id, "status": "paused", "note": "paused (manual)"}
    again = await client.post(f"/v1/cases/{case_id}/pause", headers=headers)
    assert again.status_code == 200  # idempotent: already paused
    resumed = await client.post(f"/v1/cases/{case_id}/resume", headers=headers)
    assert resumed.json()["status"] == "open"
    written_off = await client.post(f"/v1/cases/{case_id}/write-off", headers=headers)
    assert written_off.json()["status"] == "written_off"
    refused = await client.post(f"/v1/cases/{case_id}/pause", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["detail"] == "pause refused: the case is written_off"
    types = [e.type for e in await published(clean_db)]
    assert types == [
        "dunning.case.opened.v1",
        "dunning.case.paused.v1",
        "dunning.case.resumed.v1",
        "dunning.case.written_off.v1",
    ]
    detail = (await client.get(f"/v1/cases/{case_id}", headers=headers)).json()
    actions = [e for e in detail["timeline"] if e["kind"] == "action"]
    assert [a["type"] for a in actions] == [
        "action.pause",
        "action.pause",
        "action.resume",
        "action.write_off",
    ]
    assert actions[0]["note"].startswith("paused (manual) (by api key key_")


async def test_retry_now_brings_the_planned_attempt_forward(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    case_id = await open_case(
        clean_db, tenant, own_retries=True, charge_id="ch_r", decline_code="insufficient_funds"
    )
    response = await client.post(f"/v1/cases/{case_id}/retry", headers=bearer(tenant.api_key))
    assert response.status_code == 200
    async with clean_db.engine.connect() as conn:
        planned = (await conn.execute(select(attempts).where(attempts.c.status == "scheduled"))).one()
    assert planned.due_at == NOW
    assert "retry now requested" in planned.reason


async def test_retry_now_respects_the_card_caps(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    # Fifteen failures on this Visa card within 30 days: the sixteenth attempt is refused.
    await open_case(clean_db, tenant, own_retries=True, invoice_id="in_cap_first", charge_id="ch_cap_first")
    events = [
        payment_event(
            "payment.failed",
            tenant_id=tenant.tenant_id,
            invoice_id=f"in_cap_{i}",
            minutes=-60 * i,
            charge_id=f"ch_cap_{i}",
            payment_method_id="pm_visa",
            card_brand="visa",
        )
        for i in range(15)
    ]
    await deliver(clean_db, *events, now=NOW)
    async with clean_db.engine.connect() as conn:
        case_id = str(
            await conn.scalar(select(attempts.c.case_id).where(attempts.c.charge_ref == "ch_cap_0"))
        )
    response = await client.post(f"/v1/cases/{case_id}/retry", headers=bearer(tenant.api_key))
    assert response.status_code == 409
    assert "retry refused: " in response.json()["detail"]
    assert "15" in response.json()["detail"]  # the cap, named in the reason


async def test_actions_need_write_scope_and_stay_within_the_tenant(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, box: SecretBox
) -> None:
    case_id = await open_case(clean_db, tenant, charge_id="ch_t")
    other = await make_tenant(clean_db, box, name="Other")
    async with clean_db.unit_of_work() as uow:
        read_only = await create_api_key(uow.session, tenant.tenant_id, scopes=("read",))
        await uow.commit()
    assert (await client.post(f"/v1/cases/{case_id}/pause", headers=bearer(read_only))).status_code == 403
    assert (await client.post(f"/v1/cases/{case_id}/pause", headers=bearer(other.api_key))).status_code == 404
    assert (
        await client.post("/v1/cases/case_missing/retry", headers=bearer(tenant.api_key))
    ).status_code == 404


async def test_retry_now_is_refused_for_an_observing_tenant_and_while_an_attempt_runs(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    case_id = await open_case(clean_db, tenant, charge_id="ch_o")
    observe = await client.post(f"/v1/cases/{case_id}/retry", headers=bearer(tenant.api_key))
    assert observe.status_code == 409
    assert observe.json()["detail"] == "retry refused: the tenant's policy is observe (the processor retries)"

    other_case = await open_case(clean_db, tenant, own_retries=True, invoice_id="in_run", charge_id="ch_run")
    async with clean_db.engine.begin() as conn:
        await conn.execute(attempts.update().where(attempts.c.status == "scheduled").values(status="claimed"))
    running = await client.post(f"/v1/cases/{other_case}/retry", headers=bearer(tenant.api_key))
    assert running.status_code == 409
    assert running.json()["detail"] == "retry refused: an attempt is being made right now"


async def test_an_idempotency_key_makes_retry_now_happen_once(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    case_id = await open_case(
        clean_db, tenant, own_retries=True, charge_id="ch_idem", decline_code="do_not_honor"
    )
    headers = bearer(tenant.api_key) | {"Idempotency-Key": "click-1"}
    first = await client.post(f"/v1/cases/{case_id}/retry", headers=headers)
    again = await client.post(f"/v1/cases/{case_id}/retry", headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    async with clean_db.engine.connect() as conn:
        reasons = (
            (await conn.execute(select(attempts.c.reason).where(attempts.c.status == "scheduled")))
            .scalars()
            .all()
        )
    assert len(reasons) == 1
    assert reasons[0].count("retry now requested") == 1  # the second request did nothing

    reused = await client.post(f"/v1/cases/{case_id}/pause", headers=headers)
    assert reused.status_code == 422
    assert reused.json()["detail"] == "this Idempotency-Key was used for a different request"
    blank = await client.post(
        f"/v1/cases/{case_id}/pause", headers=bearer(tenant.api_key) | {"Idempotency-Key": " "}
    )
    assert blank.status_code == 400
