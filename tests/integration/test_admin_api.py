"""The tenancy slice: the tenant, API keys, processor keys and webhook secrets through /v1, and
the operator's cross-tenant routes behind DUNNING_ADMIN_TOKEN."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from tests.conftest import Infra
from tests.integration.conftest import make_tenant
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.tenancy.service import CreatedTenant, create_api_key, processor_credentials_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

OPERATOR_TOKEN = "op_" + "7" * 40


def bearer(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


@pytest_asyncio.fixture
async def api(
    infra: Infra, clean_db: Database, box: SecretBox, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The all-in-one app with the operator token set (and webhook secrets never cached)."""
    settings = SystemSettings(
        data_dir=tmp_path / "data",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
        admin_token=SecretStr(OPERATOR_TOKEN),
        webhook_secret_cache_seconds=0,
    )
    app = build_system_app(settings, clean_db, box, Health())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dunning.test"
    ) as http:
        yield http


async def new_key(api: httpx.AsyncClient, admin_key: str, **body: Any) -> dict[str, Any]:
    response = await api.post("/v1/api-keys", json=body, headers=bearer(admin_key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# -- the tenant ------------------------------------------------------------------------------------


async def test_the_tenant_of_the_key(api: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    response = await api.get("/v1/tenant", headers=bearer(tenant.api_key))
    assert response.status_code == 200
    body = response.json()
    assert (body["tenant_id"], body["name"], body["active_webhook_secrets"]) == (tenant.tenant_id, "Acme", 1)


async def test_admin_routes_need_the_admin_scope(
    api: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    async with clean_db.unit_of_work() as uow:
        writer = await create_api_key(uow.session, tenant.tenant_id, scopes=("read", "write"))
        await uow.commit()
    for method, path in (("GET", "/v1/tenant"), ("GET", "/v1/api-keys"), ("GET", "/v1/webhook-secrets")):
        response = await api.request(method, path, headers=bearer(writer))
        assert response.status_code == 403
        assert response.json()["detail"] == "this API key lacks the 'admin' scope"


# -- API keys --------------------------------------------------------------------------------------


async def test_a_new_key_is_shown_once_names_its_id_and_works_with_its_scopes(
    api: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    created = await new_key(api, tenant.api_key, scopes=["read"], label="dashboard")
    assert created["scopes"] == ["read"]
    assert created["label"] == "dashboard"
    # The key starts with its prefix, and the prefix names the id: a leaked key is recognizable.
    assert created["key"].startswith(created["prefix"] + "_")
    assert created["prefix"] == "dk_" + created["id"].removeprefix("key_")
    assert (await api.get("/v1/cases", headers=bearer(created["key"]))).status_code == 200
    assert (await api.put("/v1/retry-policy", json={}, headers=bearer(created["key"]))).status_code == 403

    listed = (await api.get("/v1/api-keys", headers=bearer(tenant.api_key))).json()
    assert listed["data"][0]["id"] == created["id"]  # newest first
    assert len(listed["data"]) == 2
    assert created["key"] not in str(listed)
    assert all("key" not in item for item in listed["data"])


async def test_scopes_are_stored_in_a_canonical_order(api: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    created = await new_key(api, tenant.api_key, scopes=["admin", "read", "read"])
    assert created["scopes"] == ["read", "admin"]


async def test_unknown_scopes_and_fields_are_refused(api: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    bodies: list[dict[str, Any]] = [
        {"scopes": ["root"]},
        {"scopes": []},
        {"scopes": ["read"], "tenant_id": "t"},
    ]
    for body in bodies:
        response = await api.post("/v1/api-keys", json=body, headers=bearer(tenant.api_key))
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_repeated_create_with_the_same_idempotency_key_makes_one_key_and_shows_it_once(
    api: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    headers = bearer(tenant.api_key, **{"Idempotency-Key": "make-ci-key"})
    first = await api.post("/v1/api-keys", json={"scopes": ["write"], "label": "ci"}, headers=headers)
    again = await api.post("/v1/api-keys", json={"scopes": ["write"], "label": "ci"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["key"].startswith("dk_")
    assert again.json()["key"] is None  # the key is stored nowhere in clear, not even for replays
    listed = (await api.get("/v1/api-keys", headers=bearer(tenant.api_key))).json()["data"]
    assert len(listed) == 2
    other = await api.post("/v1/api-keys", json={"scopes": ["read"]}, headers=headers)
    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")


async def test_a_revoked_key_is_refused_at_once(api: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    created = await new_key(api, tenant.api_key, scopes=["read", "write"])
    assert (await api.get("/v1/cases", headers=bearer(created["key"]))).status_code == 200
    revoked = await api.delete(f"/v1/api-keys/{created['id']}", headers=bearer(tenant.api_key))
    assert revoked.status_code == 204
    refused = await api.get("/v1/cases", headers=bearer(created["key"]))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the API key is unknown or revoked"
    listed = (await api.get("/v1/api-keys", headers=bearer(tenant.api_key))).json()["data"]
    assert next(k for k in listed if k["id"] == created["id"])["revoked_at"] is not None
    # Revoking it again changes nothing.
    assert (
        await api.delete(f"/v1/api-keys/{created['id']}", headers=bearer(tenant.api_key))
    ).status_code == 204


async def test_the_last_admin_key_cannot_be_revoked(api: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    [initial] = (await api.get("/v1/api-keys", headers=bearer(tenant.api_key))).json()["data"]
    refused = await api.delete(f"/v1/api-keys/{initial['id']}", headers=bearer(tenant.api_key))
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/last-admin-key")
    assert "create another admin key" in refused.json()["detail"]
    assert (await api.get("/v1/tenant", headers=bearer(tenant.api_key))).status_code == 200

    # With a second admin key, the first can go (even revoking itself), and the second is then last.
    second = await new_key(api, tenant.api_key, scopes=["admin"])
    assert (
        await api.delete(f"/v1/api-keys/{initial['id']}", headers=bearer(tenant.api_key))
    ).status_code == 204
    assert (await api.get("/v1/tenant", headers=bearer(tenant.api_key))).status_code == 401
    again = await api.delete(f"/v1/api-keys/{second['id']}", headers=bearer(second["key"]))
    assert again.status_code == 409


async def test_unknown_key_ids_are_404(api: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    response = await api.delete("/v1/api-keys/key_0000000000000000", headers=bearer(tenant.api_key))
    assert response.status_code == 404


async def test_api_key_pages_walk_every_key_once(api: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    made = {(await new_key(api, tenant.api_key, scopes=["read"], label=f"k{i}"))["id"] for i in range(4)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.get("/v1/api-keys", params=params, headers=bearer(tenant.api_key))).json()
        seen += [k["id"] for k in page["data"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert made < set(seen)


# -- processor credentials -------------------------------------------------------------------------


async def test_the_stripe_key_is_validated_stored_sealed_and_shown_as_a_hint(
    api: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, box: SecretBox
) -> None:
    headers = bearer(tenant.api_key)
    assert (await api.get("/v1/processor-credentials/stripe", headers=headers)).status_code == 404
    for bad in ("pk_test_abcdefghijkl", "sk_test_1"):
        refused = await api.put("/v1/processor-credentials/stripe", json={"api_key": bad}, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/invalid-processor-key")
    put = await api.put(
        "/v1/processor-credentials/stripe", json={"api_key": "sk_test_abcdefgh12344242"}, headers=headers
    )
    assert put.status_code == 200
    assert put.json() | {"updated_at": None} == {
        "provider": "stripe",
        "key_hint": "sk_test_…4242",
        "livemode": False,
        "updated_at": None,
    }
    shown = (await api.get("/v1/processor-credentials/stripe", headers=headers)).json()
    assert shown["key_hint"] == "sk_test_…4242"
    assert "abcdefgh" not in str(shown)
    async with clean_db.unit_of_work() as uow:
        stored = await processor_credentials_for(uow.session, box, tenant.tenant_id, "stripe")
    assert stored is not None
    assert stored.api_key == "sk_test_abcdefgh12344242"
    unknown = await api.get("/v1/processor-credentials/adyen", headers=headers)
    assert unknown.status_code == 404


# -- webhook secrets -------------------------------------------------------------------------------


async def test_a_secret_added_through_the_api_signs_webhooks_until_it_is_retired(
    api: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    headers = bearer(tenant.api_key)
    added = await api.post(
        "/v1/webhook-secrets", json={"secret": "whsec_from_stripe_cli_0123"}, headers=headers
    )
    assert added.status_code == 201
    secret = added.json()
    assert (secret["provider"], secret["secret"], secret["retired_at"]) == (
        "stripe",
        "whsec_from_stripe_cli_0123",
        None,
    )
    listed = (await api.get("/v1/webhook-secrets", headers=headers)).json()["data"]
    assert listed[0]["id"] == secret["id"]
    assert len(listed) == 2
    assert "whsec_" not in str(listed)

    async def deliver(invoice_id: str) -> httpx.Response:
        body = encode(invoice_payment_failed(invoice_id=invoice_id))
        return await api.post(
            f"/v1/webhooks/stripe/{tenant.tenant_id}",
            content=body,
            headers=signed_headers(body, "whsec_from_stripe_cli_0123"),
        )

    assert (await deliver("in_api_1")).json()["status"] == "accepted"
    retired = await api.post(f"/v1/webhook-secrets/{secret['id']}/retire", headers=headers)
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    assert (await deliver("in_api_2")).status_code == 400
    again = await api.post(f"/v1/webhook-secrets/{secret['id']}/retire", headers=headers)
    assert again.json()["retired_at"] == retired.json()["retired_at"]


async def test_a_generated_secret_is_shown_once_even_when_the_request_is_repeated(
    api: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    headers = bearer(tenant.api_key, **{"Idempotency-Key": "rotate-2026-11"})
    first = await api.post("/v1/webhook-secrets", json={}, headers=headers)
    again = await api.post("/v1/webhook-secrets", json={}, headers=headers)
    assert first.json()["secret"].startswith("whsec_")
    assert again.json() | {"secret": "x"} == first.json() | {"secret": "x"}
    assert again.json()["secret"] is None
    assert len((await api.get("/v1/webhook-secrets", headers=bearer(tenant.api_key))).json()["data"]) == 2


async def test_short_secrets_and_unknown_secret_ids_are_refused(
    api: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    headers = bearer(tenant.api_key)
    assert (
        await api.post("/v1/webhook-secrets", json={"secret": "short"}, headers=headers)
    ).status_code == 422
    assert (await api.post("/v1/webhook-secrets/whs_nope/retire", headers=headers)).status_code == 404


# -- the operator ----------------------------------------------------------------------------------


async def test_the_operator_creates_and_lists_tenants(api: httpx.AsyncClient) -> None:
    operator = bearer(OPERATOR_TOKEN, **{"Idempotency-Key": "onboard-globex"})
    created = await api.post("/v1/tenants", json={"name": "Globex"}, headers=operator)
    assert created.status_code == 201
    tenant = created.json()
    assert tenant["api_key"].startswith("dk_")
    assert tenant["stripe_webhook_secret"].startswith("whsec_")
    replay = await api.post("/v1/tenants", json={"name": "Globex"}, headers=operator)
    assert replay.json() == tenant | {"api_key": None, "stripe_webhook_secret": None}
    # The new tenant's key is an admin key of that tenant.
    own = await api.get("/v1/tenant", headers=bearer(tenant["api_key"]))
    assert own.json()["tenant_id"] == tenant["tenant_id"]
    listed = (await api.get("/v1/tenants", headers=bearer(OPERATOR_TOKEN))).json()["data"]
    assert [t["name"] for t in listed] == ["Globex"]


async def test_the_operator_issues_a_key_for_a_tenant_that_lost_its_own(
    api: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    issued = await api.post(
        f"/v1/tenants/{tenant.tenant_id}/api-keys",
        json={"scopes": ["admin"], "label": "recovery"},
        headers=bearer(OPERATOR_TOKEN),
    )
    assert issued.status_code == 201
    assert (await api.get("/v1/tenant", headers=bearer(issued.json()["key"]))).json()["name"] == "Acme"
    missing = await api.post(
        "/v1/tenants/ten_missing/api-keys", json={"scopes": ["read"]}, headers=bearer(OPERATOR_TOKEN)
    )
    assert missing.status_code == 404


async def test_tenant_keys_and_wrong_tokens_cannot_administer_tenants(
    api: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    as_tenant = await api.get("/v1/tenants", headers=bearer(tenant.api_key))
    assert as_tenant.status_code == 403
    assert as_tenant.json()["type"].endswith("/operator-only")
    for headers in ({}, bearer("op_" + "8" * 40), bearer(OPERATOR_TOKEN[:-1])):
        response = await api.post("/v1/tenants", json={"name": "Evil"}, headers=headers)
        assert response.status_code == 401, headers
    listed = (await api.get("/v1/tenants", headers=bearer(OPERATOR_TOKEN))).json()["data"]
    assert [t["name"] for t in listed] == ["Acme"]


async def test_without_an_operator_token_the_operator_api_is_off(
    client: httpx.AsyncClient, clean_db: Database, box: SecretBox
) -> None:
    await make_tenant(clean_db, box)
    response = await client.get("/v1/tenants", headers=bearer(os.urandom(24).hex()))
    assert response.status_code == 403
    assert response.json()["detail"] == "the operator API is off: set DUNNING_ADMIN_TOKEN to use it"


async def test_concurrent_revocations_cannot_remove_every_admin_key(
    clean_db: Database, tenant: CreatedTenant
) -> None:
    import asyncio

    from dunning.common.tenancy.keys import LastAdminKey, list_api_keys, revoke_api_key

    async with clean_db.unit_of_work() as uow:
        await create_api_key(uow.session, tenant.tenant_id, scopes=("admin",))
        both = [k.key_id for k in await list_api_keys(uow.session, tenant.tenant_id)]
        await uow.commit()

    async def revoke(key_id: str) -> str:
        async with clean_db.unit_of_work() as uow:
            try:
                await revoke_api_key(uow.session, tenant.tenant_id, key_id)
            except LastAdminKey:
                return "refused"
            await asyncio.sleep(0.05)  # hold the transaction open while the other one runs
            await uow.commit()
            return "revoked"

    assert sorted(await asyncio.gather(*(revoke(k) for k in both))) == ["refused", "revoked"]
