"""`dunning run` driven like a person and a platform would: start, create a tenant, send a
webhook, stop with SIGTERM, start again on the same data."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from aiokafka import AIOKafkaConsumer
from tests.conftest import Infra
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers

from dunning.common.embedded import free_port
from dunning.common.events.envelope import decode_event
from dunning.common.events.topics import PAYMENT_EVENTS_TOPIC

pytestmark = pytest.mark.integration

DUNNING = [sys.executable, "-m", "dunning.cli"]


class Running:
    def __init__(self, data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.env = {**os.environ, "DUNNING_DATA_DIR": str(data_dir), "DUNNING_HTTP_PORT": str(port)}
        for name in ("DUNNING_DATABASE_URL", "DUNNING_KAFKA_BOOTSTRAP", "DUNNING_SECRET_KEY"):
            self.env.pop(name, None)
        self.env.update(extra_env or {})
        self.log = (data_dir.parent / f"run-{port}.log").open("ab")
        self.process = subprocess.Popen([*DUNNING, "run"], env=self.env, stdout=self.log, stderr=self.log)

    def runtime(self, timeout: float = 90.0) -> dict[str, str]:
        path = self.data_dir / "runtime.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"dunning run exited with {self.process.returncode}"
            if path.exists():
                loaded: dict[str, str] = json.loads(path.read_text())
                return loaded
            time.sleep(0.2)
        raise AssertionError("dunning run did not become ready")

    def output(self) -> str:
        self.log.flush()
        return (self.data_dir.parent / f"run-{self.port}.log").read_text(errors="replace")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*DUNNING, *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.log.close()
        return code


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    # Whatever happened, leave no server behind for the rest of the suite.
    for proc in psutil.process_iter(attrs=("cmdline",)):
        if proc.info["cmdline"] and any(str(path) in part for part in proc.info["cmdline"]):
            proc.kill()


def children_alive(pids: list[int]) -> list[int]:
    return [
        pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]


def read_topic_from_start(bootstrap: str, want: int, timeout: float = 20.0) -> list[bytes]:
    import asyncio

    async def go() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            PAYMENT_EVENTS_TOPIC,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while len(values) < want and asyncio.get_running_loop().time() < deadline:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    values.extend(r.value for r in records)
        finally:
            await consumer.stop()
        return values

    return asyncio.run(go())


def test_run_serves_webhooks_stops_cleanly_and_keeps_its_data(data_dir: Path) -> None:
    first = Running(data_dir, free_port())
    runtime = first.runtime()
    assert {"http_url", "database_url", "kafka_bootstrap"} <= set(runtime)
    tree = [c.pid for c in psutil.Process(first.process.pid).children(recursive=True)]

    # The first start made a local tenant and put its admin key in a file only its owner reads.
    key_file = data_dir / "admin.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    admin_key = key_file.read_text().strip()
    local = httpx.get(
        runtime["http_url"] + "/v1/tenant", headers={"Authorization": f"Bearer {admin_key}"}, timeout=10
    ).json()
    assert local["name"] == "local"
    assert f"its admin API key is in {key_file.resolve()}" in first.output()
    assert admin_key not in first.output()

    tenant = json.loads(first.cli("tenants", "create", "Acme Inc", "--json"))
    assert set(tenant) >= {"tenant_id", "api_key", "stripe_webhook_secret"}

    http = httpx.Client(base_url=runtime["http_url"], timeout=10)
    assert http.get("/readyz").json()["status"] == "ready"
    event = invoice_payment_failed(invoice_id="in_e2e_1")
    body = encode(event)
    url = f"/v1/webhooks/stripe/{tenant['tenant_id']}"
    accepted = http.post(url, content=body, headers=signed_headers(body, tenant["stripe_webhook_secret"]))
    assert accepted.json()["status"] == "accepted"
    published = [decode_event(v) for v in read_topic_from_start(runtime["kafka_bootstrap"], 1)]
    assert [e.data["provider_event_id"] for e in published] == [event["id"]]
    http.close()

    assert first.stop() == 0
    assert not (data_dir / "runtime.json").exists()
    assert children_alive(tree) == [], "dunning run left processes behind"

    second = Running(data_dir, free_port())
    runtime = second.runtime()
    try:
        listed = json.loads(second.cli("tenants", "list", "--json"))
        assert [t["tenant_id"] for t in listed] == [local["tenant_id"], tenant["tenant_id"]]
        # Later starts make no new key: they say again where the first one is.
        assert key_file.read_text().strip() == admin_key
        assert f"Local tenant {local['tenant_id']} (created at the first start)" in second.output()
        # The new embedded broker started empty; the relay put back what it had published.
        republished = [decode_event(v) for v in read_topic_from_start(runtime["kafka_bootstrap"], 1)]
        assert [e.data["provider_event_id"] for e in republished] == [event["id"]]
        with httpx.Client(base_url=runtime["http_url"], timeout=10) as http:
            again = http.post(
                url, content=body, headers=signed_headers(body, tenant["stripe_webhook_secret"])
            )
            assert again.json()["status"] == "duplicate"
    finally:
        assert second.stop() == 0


def test_run_uses_configured_servers_instead_of_embedded_ones(data_dir: Path, infra: Infra) -> None:
    running = Running(
        data_dir,
        free_port(),
        extra_env={
            "DUNNING_DATABASE_URL": infra.database_url,
            "DUNNING_KAFKA_BOOTSTRAP": infra.bootstrap,
            "DUNNING_SECRET_KEY": infra.secret_key,
        },
    )
    try:
        runtime = running.runtime()
        assert runtime["database_url"] == infra.database_url
        assert runtime["kafka_bootstrap"] == infra.bootstrap
        assert not (data_dir / "postgres").exists()
        assert not (data_dir / "secret.key").exists()
        assert httpx.get(runtime["http_url"] + "/readyz", timeout=10).json()["status"] == "ready"
    finally:
        assert running.stop() == 0


@pytest.fixture
def stripe_fake(tmp_path: Path) -> Iterator[str]:
    """The Stripe fake as a process of its own, like a real processor on the network."""
    port = free_port()
    log = (tmp_path / "stripe-fake.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.stripe_fake", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/_fake/charges/summary", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        log.close()


def test_a_failed_payment_is_recovered_by_our_retry_through_stripe(data_dir: Path, stripe_fake: str) -> None:
    running = Running(
        data_dir,
        free_port(),
        extra_env={"DUNNING_STRIPE_API_BASE": stripe_fake, "DUNNING_RETRY_POLL_SECONDS": "0.2"},
    )
    stack = contextlib.ExitStack()
    try:
        runtime = running.runtime()
        tenant = json.loads(
            running.cli("tenants", "create", "Acme", "--json", "--stripe-api-key", "sk_test_e2e_acme_key")
        )
        api = stack.enter_context(
            httpx.Client(
                base_url=runtime["http_url"],
                headers={"Authorization": f"Bearer {tenant['api_key']}"},
                timeout=10,
            )
        )
        policy = api.get("/v1/retry-policy").json() | {"mode": "own_retries"}
        assert api.put("/v1/retry-policy", json=policy).status_code == 200
        # Whatever the hour of this run (the customer's zone is unknown: UTC), mail may go out.
        escalation = api.get("/v1/escalation-policy").json()
        escalation["compliance"] = {"regime": "first_party", "window_start": "00:00", "window_end": "23:59"}
        assert api.put("/v1/escalation-policy", json=escalation).status_code == 200

        fake = stack.enter_context(httpx.Client(base_url=stripe_fake, timeout=10))
        customer = fake.post("/_fake/customers", json={"email": "jenny@example.com"}).json()
        fake.post(f"/_fake/customers/{customer['id']}/cards", json={"brand": "visa"})
        invoice = fake.post(
            "/_fake/invoices", json={"customer": customer["id"], "amount": 1999, "currency": "usd"}
        ).json()
        sent = fake.post(
            "/_fake/webhooks",
            json={
                "url": f"{runtime['http_url']}/v1/webhooks/stripe/{tenant['tenant_id']}",
                "secret": tenant["stripe_webhook_secret"],
                "type": "invoice.payment_failed",
                "object": invoice["id"],
            },
        ).json()
        assert sent["delivered"], sent
        assert sent["status"] == 200, sent

        case = _wait_for(lambda: next(iter(api.get("/v1/cases").json()["data"]), None))
        assert case["invoice_id"] == invoice["id"]
        # Notify runs in the same process tree: the friendly email, written as a file (no SMTP).
        [mail] = _wait_for(lambda: api.get("/v1/mail").json())
        assert "jenny@example.com" in mail["to"]
        _wait_for(lambda: _message_on_timeline(api, case["id"]))
        assert api.post(f"/v1/cases/{case['id']}/retry").status_code == 200
        recovered = _wait_for(lambda: _if(api.get(f"/v1/cases/{case['id']}").json(), status="recovered"))
        notes = [entry["note"] for entry in recovered["timeline"]]
        assert any("charged: the invoice is paid" in note for note in notes)
        summary = fake.get("/_fake/charges", params={"invoice": invoice["id"]}).json()
        charges = summary["data"] if isinstance(summary, dict) else summary
        assert [c["status"] for c in charges] == ["succeeded"]
    finally:
        stack.close()
        assert running.stop() == 0


def _message_on_timeline(api: httpx.Client, case_id: str) -> bool:
    timeline = api.get(f"/v1/cases/{case_id}").json()["timeline"]
    return any(e["kind"] == "message" and e["type"] == "notification.sent" for e in timeline)


def _if(body: dict[str, Any], **expected: Any) -> dict[str, Any] | None:
    return body if all(body.get(k) == v for k, v in expected.items()) else None


def _wait_for(probe: Any, timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the system")
