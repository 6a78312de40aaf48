"""GET/PUT /v1/retry-policy: safe defaults, the domain's own validation, per-tenant storage."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.integration.conftest import make_tenant

from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.tenancy.service import CreatedTenant, create_api_key

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def policy(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.get("/v1/retry-policy", headers=bearer(key))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_a_new_tenant_observes_until_it_chooses_to_retry(
    client: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    body = await policy(client, tenant.api_key)
    assert body["mode"] == "observe"  # never both retry: Stripe's own retries may still be on
    assert body["card_caps"]["visa"] == [{"limit": 15, "per_hours": 720}]
    assert body["card_caps"]["mastercard"] == [
        {"limit": 35, "per_hours": 720},
        {"limit": 10, "per_hours": 24},
    ]
    assert body["end_action"] == "leave_past_due"


async def test_put_replaces_the_policy_of_this_tenant_only(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, box: SecretBox
) -> None:
    other = await make_tenant(clean_db, box, name="Other")
    body = await policy(client, tenant.api_key)
    body |= {
        "mode": "own_retries",
        "max_attempts": 6,
        "allow_alternate_methods": True,
        "cascade_delay_seconds": 0,
    }
    saved = await client.put("/v1/retry-policy", json=body, headers=bearer(tenant.api_key))
    assert saved.status_code == 200, saved.text
    assert await policy(client, tenant.api_key) == body
    assert (await policy(client, other.api_key))["mode"] == "observe"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be a whole number from 1 to 50"),
        ({"spacing_days": [3, 1]}, "spacing_days must not shrink"),
        ({"payday_hours": {"start": "06:00", "end": "09:00"}}, "must lie within retry_hours"),
        ({"cascade_delay_seconds": 90_000}, "cascade_delay must be between 0 and 1 day"),
        (
            {"card_caps": {"visa": [{"limit": 0, "per_hours": 720}], "mastercard": [], "other": []}},
            "at least 1 attempt",
        ),
    ],
)
async def test_invalid_policies_are_422_with_the_reason_and_change_nothing(
    client: httpx.AsyncClient, tenant: CreatedTenant, change: dict[str, Any], message: str
) -> None:
    before = await policy(client, tenant.api_key)
    response = await client.put("/v1/retry-policy", json=before | change, headers=bearer(tenant.api_key))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]
    assert await policy(client, tenant.api_key) == before


async def test_malformed_bodies_and_unknown_fields_are_refused(
    client: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    body = await policy(client, tenant.api_key)
    for bad in (body | {"surprise": 1}, body | {"mode": "both"}, {"mode": "observe"}):
        response = await client.put("/v1/retry-policy", json=bad, headers=bearer(tenant.api_key))
        assert response.status_code == 422
    response = await client.put(
        "/v1/retry-policy",
        content=b"{not json",
        headers=bearer(tenant.api_key) | {"content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_changing_the_policy_needs_the_write_scope(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    async with clean_db.unit_of_work() as uow:
        read_only = await create_api_key(uow.session, tenant.tenant_id, scopes=("read",))
        await uow.commit()
    body = await policy(client, read_only)
    response = await client.put("/v1/retry-policy", json=body, headers=bearer(read_only))
    assert response.status_code == 403
