"""What every /v1 slice shares: a rate limit per API key and request ids in problem documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from tests.conftest import Infra
from tests.integration.conftest import make_tenant

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.tenancy.service import CreatedTenant, create_api_key

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest_asyncio.fixture
async def limited(
    infra: Infra, clean_db: Database, box: SecretBox, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """Three requests at once per key, then one every 100 s: the fourth is refused."""
    settings = SystemSettings(
        data_dir=tmp_path / "data",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
        api_rate_per_second=0.01,
        api_rate_burst=3,
    )
    app = build_system_app(settings, clean_db, box, Health())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dunning.test"
    ) as http:
        yield http


async def test_a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_do_not(
    limited: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    async with clean_db.unit_of_work() as uow:
        second = await create_api_key(uow.session, tenant.tenant_id, scopes=("read",))
        await uow.commit()
    statuses = [
        (await limited.get("/v1/cases", headers=bearer(tenant.api_key))).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 200]
    refused = await limited.get("/v1/cases", headers=bearer(tenant.api_key), params={"limit": 1})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "100"
    assert refused.json()["type"] == "https://dunning.dev/problems/rate-limited"
    assert refused.json()["detail"] == "this API key is over 0.01 requests per second (burst 3)"
    # Each key has its own bucket; every slice shares the key's bucket.
    assert (await limited.get("/v1/cases", headers=bearer(second))).status_code == 200
    assert (await limited.get("/v1/escalation-policy", headers=bearer(tenant.api_key))).status_code == 429


async def test_requests_without_a_valid_key_are_not_counted_against_it(
    limited: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    for _ in range(5):
        assert (await limited.get("/v1/cases", headers=bearer("dk_unknown_key"))).status_code == 401
    assert (await limited.get("/v1/cases", headers=bearer(tenant.api_key))).status_code == 200


async def test_a_problem_document_names_the_request_id(
    client: httpx.AsyncClient, tenant: CreatedTenant
) -> None:
    given = await client.get(
        "/v1/cases/case_missing", headers=bearer(tenant.api_key) | {"X-Request-ID": "req-42"}
    )
    assert given.status_code == 404
    assert given.json()["request_id"] == "req-42"
    made = await client.get("/v1/cases", headers=bearer("dk_wrong"))
    assert made.status_code == 401
    assert made.json()["request_id"] == made.headers["x-request-id"]
    assert len(made.json()["request_id"]) == 32


async def test_validation_problems_carry_the_request_id_too(
    client: httpx.AsyncClient, clean_db: Database, box: SecretBox
) -> None:
    tenant = await make_tenant(clean_db, box)
    response = await client.get(
        "/v1/cases", params={"limit": 0}, headers=bearer(tenant.api_key) | {"X-Request-ID": "req-validation"}
    )
    assert response.status_code == 422
    assert response.json()["request_id"] == "req-validation"
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]


async def test_the_served_document_lists_every_slice_and_docs_are_served(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert {"/v1/tenant", "/v1/webhooks/{provider}/{tenant_id}", "/v1/cases", "/v1/notifications"} <= set(
        document["paths"]
    )
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text
