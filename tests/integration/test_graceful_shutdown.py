"""SIGTERM during a burst, on a real ``dunning serve retry`` process: the event in hand finishes,
offsets are committed, the consumer leaves the group, and after a restart nothing is handled
twice — the restarted process reads on from exactly where the first one stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Infra

from dunning.common.db import Database
from dunning.common.embedded import free_port
from dunning.common.events.envelope import encode_event, make_event
from dunning.common.events.payment import InvoicePaymentData, PaymentEventType, event_subject
from dunning.common.events.topics import PAYMENT_EVENTS_TOPIC
from dunning.common.kafka import make_producer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

BURST = 400


def failed_payment(tenant_id: str, n: int) -> tuple[bytes, bytes]:
    data = InvoicePaymentData(
        tenant_id=tenant_id,
        provider="stripe",
        provider_event_id=f"evt_burst_{n}",
        provider_event_type="invoice.payment_failed",
        livemode=False,
        occurred_at=datetime.now(UTC),
        customer_id=f"cus_{n}",
        invoice_id=f"in_burst_{n}",
        amount=1000,
        amount_due=1000,
        currency="USD",
        decline_code="insufficient_funds",
    )
    subject = event_subject(tenant_id, data)
    event = make_event(
        event_id=str(uuid.uuid4()),
        source="/test",
        type=PaymentEventType.PAYMENT_FAILED.cloudevents_type,
        subject=subject,
        time=data.occurred_at,
        tenant_id=tenant_id,
        data=data,
    )
    return subject.encode(), encode_event(event)


async def start_retry(infra: Infra, port: int, log: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_KAFKA_BOOTSTRAP": infra.bootstrap,
        "DUNNING_SECRET_KEY": infra.secret_key,
        "DUNNING_HTTP_PORT": str(port),
        "DUNNING_LOG_JSON": "false",
    }
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dunning.cli", "serve", "retry", env=env, stdout=handle, stderr=handle
        )


async def applied(db: Database, tenant_id: str) -> int:
    async with db.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT count(*) FROM retry.cases WHERE tenant_id = :t AND status = 'open'"),
            {"t": tenant_id},
        )
    return int(found or 0)


async def consumed(port: int, outcome: str) -> float:
    """The process's own count of payment events its retry-cases consumer handled this way."""
    async with httpx.AsyncClient(timeout=5) as http:
        body = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    wanted = ('consumer="retry-cases"', f'topic="{PAYMENT_EVENTS_TOPIC}"', f'outcome="{outcome}"')
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("dunning_consumer_events_total{") and all(part in line for part in wanted)
    )


async def wait_ready(port: int) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("serve retry did not come up")


async def test_sigterm_mid_burst_finishes_commits_and_nothing_is_handled_twice(
    infra: Infra, clean_db: Database, tmp_path: Path
) -> None:
    tenant = f"ten_burst_{uuid.uuid4().hex[:6]}"
    log = tmp_path / "retry.log"
    port = free_port()
    first = await start_retry(infra, port, log)
    await wait_ready(port)
    producer = make_producer(infra.bootstrap, enable_idempotence=False, client_id="burst")
    await producer.start()
    try:
        for n in range(BURST):
            key, value = failed_payment(tenant, n)
            await producer.send(PAYMENT_EVENTS_TOPIC, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()

    for _ in range(600):  # mid-burst: some handled, not all
        if await applied(clean_db, tenant) >= 20:
            break
        await asyncio.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.wait(), 45) == 0, log.read_text()[-3000:]
    done_before_restart = await applied(clean_db, tenant)
    assert 0 < done_before_restart < BURST  # stopped mid-burst, and what it held was finished

    second_port = free_port()
    second = await start_retry(infra, second_port, log)
    try:
        await wait_ready(second_port)
        for _ in range(900):
            if await applied(clean_db, tenant) == BURST:
                break
            await asyncio.sleep(0.1)
        assert await applied(clean_db, tenant) == BURST
        # The restarted consumer met none of the first one's records again: its offsets were
        # committed before it left the group.
        assert await consumed(second_port, "applied") >= BURST - done_before_restart
        assert await consumed(second_port, "duplicate") == 0
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 45) == 0
