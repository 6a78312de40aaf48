"""GET /v1/cases and /v1/cases/{id}: API keys, scopes, tenant isolation, filters, pagination."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter
from tests.integration.conftest import make_tenant
from tests.integration.retry.test_cases import deliver, payment_event

from dunning.common.auth import AdminPrincipal, ReadPrincipal
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.http import build_app
from dunning.common.tenancy.service import CreatedTenant, create_api_key

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def open_cases(db: Database, tenant_id: str, n: int, *, start: int = 0) -> None:
    events = []
    for i in range(start, start + n):
        events.append(
            payment_event(
                "payment.failed",
                invoice_id=f"in_{tenant_id}_{i}",
                minutes=i,
                tenant_id=tenant_id,
                customer_id="cus_even" if i % 2 == 0 else "cus_odd",
            )
        )
    await deliver(db, *events)


@pytest.mark.usefixtures("tenant")
async def test_requests_without_a_valid_key_are_401_problems(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("dk_nope_nope")):
        response = await client.get("/v1/cases", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_key_sees_only_its_own_tenants_cases(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, box: SecretBox
) -> None:
    other = await make_tenant(clean_db, box, name="Other")
    await open_cases(clean_db, tenant.tenant_id, 2)
    await open_cases(clean_db, other.tenant_id, 1)
    mine = (await client.get("/v1/cases", headers=bearer(tenant.api_key))).json()["data"]
    theirs = (await client.get("/v1/cases", headers=bearer(other.api_key))).json()["data"]
    assert {c["invoice_id"] for c in mine} == {f"in_{tenant.tenant_id}_0", f"in_{tenant.tenant_id}_1"}
    assert len(theirs) == 1
    # Another tenant's case id answers 404 (not 403): ids cannot be probed.
    response = await client.get(f"/v1/cases/{theirs[0]['id']}", headers=bearer(tenant.api_key))
    assert response.status_code == 404
    own = await client.get(f"/v1/cases/{mine[0]['id']}", headers=bearer(tenant.api_key))
    assert own.status_code == 200
    assert own.json()["timeline"][0]["note"] == "payment failed: dunning case opened"


async def test_pagination_walks_every_case_once_newest_first(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    await open_cases(clean_db, tenant.tenant_id, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/cases", params=params, headers=bearer(tenant.api_key))).json()
        seen.extend(c["invoice_id"] for c in body["data"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"in_{tenant.tenant_id}_{i}" for i in reversed(range(7))]


async def test_filters_and_their_errors(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    await open_cases(clean_db, tenant.tenant_id, 4)
    await deliver(
        clean_db,
        payment_event(
            "invoice.paid", invoice_id=f"in_{tenant.tenant_id}_0", minutes=30, tenant_id=tenant.tenant_id
        ).model_copy(update={"tenantid": tenant.tenant_id}),
    )
    headers = bearer(tenant.api_key)
    recovered = (await client.get("/v1/cases", params={"status": "recovered"}, headers=headers)).json()[
        "data"
    ]
    assert [c["invoice_id"] for c in recovered] == [f"in_{tenant.tenant_id}_0"]
    odd = (await client.get("/v1/cases", params={"customer_id": "cus_odd"}, headers=headers)).json()["data"]
    assert {c["customer_id"] for c in odd} == {"cus_odd"}
    assert len(odd) == 2
    for params, status in (
        ({"status": "bogus"}, 400),
        ({"cursor": "not-a-cursor"}, 400),
        ({"limit": 0}, 422),
    ):
        response = await client.get("/v1/cases", params=params, headers=headers)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"


async def test_scopes_nest_and_a_missing_one_is_403(tenant: CreatedTenant, clean_db: Database) -> None:
    async with clean_db.unit_of_work() as uow:
        read_only = await create_api_key(uow.session, tenant.tenant_id, scopes=("read",))
        write_only = await create_api_key(uow.session, tenant.tenant_id, scopes=("write",))
        await uow.commit()
    router = APIRouter()

    @router.get("/admin-thing")
    async def admin_thing(principal: AdminPrincipal) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    @router.get("/read-thing")
    async def read_thing(principal: ReadPrincipal) -> dict[str, str]:
        return {"tenant": principal.tenant_id}

    app = build_app(title="t", routers=[router], health=Health())
    app.state.db = clean_db
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        denied = await http.get("/admin-thing", headers=bearer(read_only))
        assert denied.status_code == 403
        assert denied.json()["detail"] == "this API key lacks the 'admin' scope"
        assert (await http.get("/admin-thing", headers=bearer(tenant.api_key))).status_code == 200
        # write implies read: admin ⊃ write ⊃ read.
        assert (await http.get("/read-thing", headers=bearer(write_only))).json() == {
            "tenant": tenant.tenant_id
        }


async def test_cases_can_be_found_by_invoice_id(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    await deliver(
        clean_db, payment_event("payment.failed", invoice_id="in_find_me", tenant_id=tenant.tenant_id)
    )
    await deliver(
        clean_db, payment_event("payment.failed", invoice_id="in_other", tenant_id=tenant.tenant_id)
    )
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    found = (await client.get("/v1/cases", params={"invoice_id": "in_find_me"}, headers=headers)).json()
    assert [c["invoice_id"] for c in found["data"]] == ["in_find_me"]
