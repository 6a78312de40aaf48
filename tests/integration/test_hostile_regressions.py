"""Focused regressions for what the hostile-input tests found (see test_hostile_openapi.py)."""

from __future__ import annotations

import httpx
import pytest

from dunning.common.tenancy.service import CreatedTenant

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("cascade_delay_seconds", 10**30), ("per_hours", 10**30), ("per_hours", 2**40)],
)
async def test_a_retry_policy_with_a_duration_past_any_calendar_is_a_422_not_a_500(
    client: httpx.AsyncClient, tenant: CreatedTenant, field: str, value: int
) -> None:
    policy = (await client.get("/v1/retry-policy", headers=bearer(tenant.api_key))).json()
    if field == "per_hours":
        policy["card_caps"]["visa"] = [{"limit": 3, "per_hours": value}]
    else:
        policy[field] = value
    response = await client.put("/v1/retry-policy", json=policy, headers=bearer(tenant.api_key))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]


async def test_a_body_that_is_not_text_is_a_documented_400_problem(
    client: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    response = await client.put(
        "/v1/retry-policy",
        content=b"\x80\x81 not utf-8",
        headers=bearer(tenant.api_key) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    document = (await client.get("/openapi.json")).json()
    assert "400" in document["paths"]["/v1/retry-policy"]["put"]["responses"]


@pytest.mark.parametrize("path", ["/v1/api-keys", "/v1/webhook-secrets"])
async def test_a_foreign_cursor_is_a_documented_400(
    client: httpx.AsyncClient, tenant: CreatedTenant, path: str
) -> None:
    response = await client.get(path, params={"cursor": "not-ours"}, headers=bearer(tenant.api_key))
    assert response.status_code == 400
    document = (await client.get("/openapi.json")).json()
    assert "400" in document["paths"][path]["get"]["responses"]


async def test_public_routes_document_the_errors_they_answer(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "404" in paths["/v1/unsubscribe/{token}"]["get"]["responses"]
    assert "404" in paths["/v1/unsubscribe/{token}"]["post"]["responses"]
    sms = paths["/v1/sms/inbound"]["post"]["responses"]
    assert {"200", "400", "403", "404", "413"} <= set(sms)
    assert list(sms["200"]["content"]) == ["application/xml"]
    assert (await client.get("/v1/unsubscribe/0000000000")).status_code == 404


async def test_a_nul_character_in_stored_text_is_a_422_problem_not_a_500(
    client: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    response = await client.put(
        "/v1/customers/cus_nul/contact", json={"region": "a\u0000b"}, headers=bearer(tenant.api_key)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "NUL" in response.json()["detail"]
    # In a path or query parameter too.
    assert (await client.get("/v1/cases/case_%00", headers=bearer(tenant.api_key))).status_code in (404, 422)
    listed = await client.get(
        "/v1/notifications", params={"customer_id": "a\u0000"}, headers=bearer(tenant.api_key)
    )
    assert listed.status_code in (200, 400, 422), listed.text
