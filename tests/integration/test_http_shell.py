"""What every service's HTTP shell promises: health, readiness, metrics, problem+json, request ids."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers

from dunning.common.health import Health, Heartbeat
from dunning.common.http import build_app
from dunning.common.tenancy.service import CreatedTenant

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def shell(health: Health) -> httpx.AsyncClient:
    app = build_app(title="t", routers=[], health=health)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_readiness_names_what_is_down() -> None:
    health = Health()

    async def ok() -> None:
        return None

    async def broker_down() -> None:
        raise ConnectionError("no broker at 127.0.0.1:9")

    health.add_check("database", ok)
    health.add_check("broker", broker_down)
    async with shell(health) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "broker": "ConnectionError: no broker at 127.0.0.1:9",
    }


async def test_readiness_times_out_a_hanging_dependency() -> None:
    health = Health()

    async def hangs() -> None:
        await asyncio.sleep(60)

    health.add_check("database", hangs)
    async with shell(health) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("TimeoutError")


async def test_liveness_fails_when_a_worker_stops_beating() -> None:
    health = Health()
    beat = Heartbeat("outbox-relay", stale_after=0.05)
    health.add_heartbeat(beat)
    async with shell(health) as http:
        assert (await http.get("/healthz")).status_code == 200
        await asyncio.sleep(0.1)
        stuck = await http.get("/healthz")
        assert stuck.status_code == 503
        assert "outbox-relay" in stuck.json()["stale"]
        beat.beat()
        assert (await http.get("/healthz")).status_code == 200


async def test_unknown_route_is_problem_json_with_a_request_id() -> None:
    async with shell(Health()) as http:
        response = await http.get("/nope", headers={"x-request-id": "req-123"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-123"
    assert response.json()["status"] == 404


async def test_wrong_method_is_problem_json_that_says_what_is_allowed() -> None:
    async with shell(Health()) as http:
        response = await http.post("/healthz")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "GET"


async def test_metrics_count_webhooks_by_outcome(client: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    def accepted_count(text: str) -> float:
        for line in text.splitlines():
            if line.startswith('dunning_webhooks_total{outcome="accepted",provider="stripe"}'):
                return float(line.split()[-1])
        return 0.0

    before = accepted_count((await client.get("/metrics")).text)
    body = encode(invoice_payment_failed())
    await client.post(
        f"/v1/webhooks/stripe/{tenant.tenant_id}",
        content=body,
        headers=signed_headers(body, tenant.stripe_webhook_secret),
    )
    metrics = (await client.get("/metrics")).text
    assert accepted_count(metrics) == before + 1
    assert (
        'dunning_http_request_seconds_count{method="POST",route="/v1/webhooks/{provider}/{tenant_id}"'
        in metrics
    )
