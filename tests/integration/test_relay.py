"""The outbox relay: nothing committed is lost, whatever dies and whenever."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from tests.conftest import TEST_PARTITIONS, Infra
from tests.support.kafka import TopicTap
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers

from dunning.common.db import Database
from dunning.common.embedded import EmbeddedBroker, free_port
from dunning.common.events.envelope import decode_event
from dunning.common.events.topics import ALL_TOPICS, PAYMENT_EVENTS_TOPIC
from dunning.common.kafka import ensure_topics, make_producer, topics_with_dlq
from dunning.common.relay import OutboxRelay, RelayConfig
from dunning.common.tenancy.service import CreatedTenant
from dunning.ingest.tables import SCHEMA, outbox

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def post_failures(
    client: httpx.AsyncClient, tenant: CreatedTenant, n: int, **kwargs: object
) -> list[str]:
    event_ids = []
    for _ in range(n):
        event = invoice_payment_failed(**kwargs)  # type: ignore[arg-type]
        body = encode(event)
        response = await client.post(
            f"/v1/webhooks/stripe/{tenant.tenant_id}",
            content=body,
            headers=signed_headers(body, tenant.stripe_webhook_secret),
        )
        assert response.json()["status"] == "accepted"
        event_ids.append(str(event["id"]))
    return event_ids


async def unsent(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(
            await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))) or 0
        )


def provider_ids(records: Sequence[object]) -> Counter[str]:
    return Counter(decode_event(r.value).data["provider_event_id"] for r in records)  # type: ignore[attr-defined]


async def run_relay_until_drained(db: Database, producer: AIOKafkaProducer, bootstrap: str) -> None:
    relay = OutboxRelay(db, producer, bootstrap, [SCHEMA], RelayConfig(poll_interval=0.1))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    for _ in range(100):
        if await unsent(db) == 0:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_events_committed_while_no_relay_runs_are_published_when_one_starts(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, infra: Infra
) -> None:
    ids = await post_failures(client, tenant, 5)
    assert await unsent(clean_db) == 5  # acknowledged = durable, even with nothing publishing

    producer = make_producer(infra.bootstrap, enable_idempotence=False, client_id="t")
    await producer.start()
    try:
        async with TopicTap(infra.bootstrap, PAYMENT_EVENTS_TOPIC) as tap:
            await run_relay_until_drained(clean_db, producer, infra.bootstrap)
            records = await tap.read(at_least=5)
    finally:
        await producer.stop()
    assert provider_ids(records) == Counter(ids)
    assert await unsent(clean_db) == 0


class _FailsOnLastSend:
    """A producer that gets all but the last record of a batch to the broker, then fails: the
    relay has published records it cannot mark as sent."""

    def __init__(self, real: AIOKafkaProducer, batch: int) -> None:
        self._real = real
        self._left = batch

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future[Any]:
        self._left -= 1
        if self._left == 0:
            await self._real.flush()
            raise ConnectionError("broker connection lost mid-batch")
        return await self._real.send(topic, **kwargs)  # type: ignore[no-any-return]


async def test_relay_failing_between_publish_and_commit_publishes_again_with_the_same_ids(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, infra: Infra
) -> None:
    ids = await post_failures(client, tenant, 4)
    producer = make_producer(infra.bootstrap, enable_idempotence=False, client_id="t")
    await producer.start()
    try:
        async with TopicTap(infra.bootstrap, PAYMENT_EVENTS_TOPIC) as tap:
            failing = OutboxRelay(clean_db, _FailsOnLastSend(producer, 4), infra.bootstrap, [SCHEMA])
            with pytest.raises(ConnectionError):
                await failing.publish_pending(SCHEMA)
            assert await unsent(clean_db) == 4  # three are on the broker, none marked sent

            await run_relay_until_drained(clean_db, producer, infra.bootstrap)
            records = await tap.read(at_least=7)
    finally:
        await producer.stop()
    # At least once: the first three twice, always under the same CloudEvents id, so
    # consumers' inboxes drop the copy.
    counts = provider_ids(records)
    assert sorted(counts.values()) == [1, 2, 2, 2]
    assert set(counts) == set(ids)
    cloud_ids: dict[str, set[str]] = {}
    for record in records:
        envelope = decode_event(record.value)
        cloud_ids.setdefault(envelope.data["provider_event_id"], set()).add(envelope.id)
    assert all(len(event_ids) == 1 for event_ids in cloud_ids.values())
    async with clean_db.engine.connect() as conn:
        attempts = (await conn.execute(select(outbox.c.publish_attempts, outbox.c.last_error))).all()
    assert {a.publish_attempts for a in attempts} == {1}  # the failure is on record for operators


async def test_sigkilled_relay_process_loses_nothing_after_restart(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, infra: Infra
) -> None:
    ids = await post_failures(client, tenant, 30)
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_KAFKA_BOOTSTRAP": infra.bootstrap,
        "DUNNING_HTTP_PORT": "0",
    }
    command = [sys.executable, "-m", "dunning.cli", "serve", "relay"]
    async with TopicTap(infra.bootstrap, PAYMENT_EVENTS_TOPIC) as tap:
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(0.8)  # somewhere in start-up or publishing: any instant must be safe
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        port = free_port()
        second = subprocess.Popen(
            command,
            env={**env, "DUNNING_HTTP_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            records = await tap.read(at_least=30, timeout=30)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
                ready = await probe.get("/readyz")
                metrics = await probe.get("/metrics")
            assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
            assert 'dunning_outbox_published_total{schema="ingest"' in metrics.text
            for _ in range(100):
                if await unsent(clean_db) == 0:
                    break
                await asyncio.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(15) == 0  # SIGTERM is a clean stop
    assert set(provider_ids(records)) == set(ids)
    assert await unsent(clean_db) == 0


async def test_two_relays_publish_each_row_once_in_commit_order_per_invoice(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, infra: Infra
) -> None:
    expected: dict[str, list[str]] = {}
    for invoice in ("in_order_a", "in_order_b", "in_order_c"):
        expected[invoice] = await post_failures(client, tenant, 15, invoice_id=invoice)
    producers = [
        make_producer(infra.bootstrap, enable_idempotence=False, client_id=f"t{i}") for i in range(2)
    ]
    for p in producers:
        await p.start()
    stop = asyncio.Event()
    try:
        async with TopicTap(infra.bootstrap, PAYMENT_EVENTS_TOPIC) as tap:
            relays = [
                OutboxRelay(
                    clean_db, p, infra.bootstrap, [SCHEMA], RelayConfig(batch_size=4, poll_interval=0.05)
                )
                for p in producers
            ]
            tasks = [asyncio.create_task(r.run(stop)) for r in relays]
            records = await tap.read(at_least=45, settle=1.0)
            stop.set()
            await asyncio.gather(*tasks)
    finally:
        for p in producers:
            await p.stop()
    assert len(records) == 45
    seen: dict[str, list[str]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        envelope = decode_event(record.value)
        seen.setdefault(envelope.data["invoice_id"], []).append(envelope.data["provider_event_id"])
    assert seen == expected


async def test_broker_restart_loses_records_and_the_relay_publishes_them_again(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, infra: Infra
) -> None:
    ids = await post_failures(client, tenant, 6)
    broker = EmbeddedBroker(log_path=infra.work_dir / "restart-broker.log")
    bootstrap = broker.start()
    try:
        await ensure_topics(bootstrap, topics_with_dlq(ALL_TOPICS), partitions=TEST_PARTITIONS)
        producer = make_producer(bootstrap, enable_idempotence=False, client_id="t")
        await producer.start()
        await run_relay_until_drained(clean_db, producer, bootstrap)
        await producer.stop()

        broker.stop()  # memory storage: every record is gone
        broker.start()
        await ensure_topics(bootstrap, topics_with_dlq(ALL_TOPICS), partitions=TEST_PARTITIONS)

        producer = make_producer(bootstrap, enable_idempotence=False, client_id="t2")
        await producer.start()
        try:
            relay = OutboxRelay(clean_db, producer, bootstrap, [SCHEMA], RelayConfig(poll_interval=0.1))
            async with TopicTap(bootstrap, PAYMENT_EVENTS_TOPIC) as tap:
                assert await relay.recover_lost_records(SCHEMA) == 6
                assert await relay.recover_lost_records(SCHEMA) == 0  # nothing more to recover
                await run_relay_until_drained(clean_db, producer, bootstrap)
                records = await tap.read(at_least=6)
        finally:
            await producer.stop()
    finally:
        broker.stop()
    assert provider_ids(records) == Counter(ids)


async def test_relay_notices_a_restarted_broker_from_its_first_publish_offsets(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, infra: Infra
) -> None:
    """Found while building the chaos run: the loss check runs at start and every 30 s, and compares the
    broker's log with the highest offset published; a restarted broker whose new log had grown
    past that by then looked whole, and what was published before and not yet consumed was gone.
    The first offset the new broker hands out, at or below one it gave before, tells at once."""
    ids = await post_failures(client, tenant, 5, invoice_id="in_same_partition")
    broker = EmbeddedBroker(log_path=infra.work_dir / "restart-broker-2.log")
    bootstrap = broker.start()
    try:
        await ensure_topics(bootstrap, topics_with_dlq(ALL_TOPICS), partitions=TEST_PARTITIONS)
        producer = make_producer(bootstrap, enable_idempotence=False, client_id="t")
        await producer.start()
        await run_relay_until_drained(clean_db, producer, bootstrap)
        await producer.stop()

        broker.stop()  # memory storage: every record is gone
        broker.start()
        await ensure_topics(bootstrap, topics_with_dlq(ALL_TOPICS), partitions=TEST_PARTITIONS)
        ids += await post_failures(client, tenant, 1, invoice_id="in_same_partition")

        producer = make_producer(bootstrap, enable_idempotence=False, client_id="t2")
        await producer.start()
        try:
            relay = OutboxRelay(clean_db, producer, bootstrap, [SCHEMA], RelayConfig(poll_interval=0.1))
            async with TopicTap(bootstrap, PAYMENT_EVENTS_TOPIC) as tap:
                assert await relay.publish_pending(SCHEMA) == 1  # lands at offset 0 of the new log
                # The five the broker lost are queued again, and the new one after them.
                assert await unsent(clean_db) == 6
                await run_relay_until_drained(clean_db, producer, bootstrap)
                records = await tap.read(at_least=7)
        finally:
            await producer.stop()
    finally:
        broker.stop()
    assert set(provider_ids(records)) == set(ids)
    # A consumer that kept its position in the old log (5: it had read all five) and reads on
    # from there in the new one still gets the new event: it comes again after the old ones.
    assert ids[-1] in provider_ids([r for r in records if r.offset >= 5])


async def test_a_relay_started_while_the_broker_is_down_waits_for_it_instead_of_exiting(
    infra: Infra, tmp_path: Path
) -> None:
    """Found by the chaos run: processes restarted while the broker restarted exited at once
    (``Unable to bootstrap``) from creating topics at start, and would crash-loop."""
    broker = EmbeddedBroker(log_path=tmp_path / "late-broker.log")
    port = free_port()
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_KAFKA_BOOTSTRAP": broker.bootstrap,  # nothing listens there yet
        "DUNNING_HTTP_PORT": str(port),
    }
    with (tmp_path / "relay.log").open("ab") as log:
        relay = subprocess.Popen(
            [sys.executable, "-m", "dunning.cli", "serve", "relay"], env=env, stdout=log, stderr=log
        )
    try:
        await asyncio.sleep(4)
        assert relay.poll() is None, (tmp_path / "relay.log").read_text()[-2000:]
        broker.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the relay never became ready: " + (tmp_path / "relay.log").read_text()[-2000:])
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(20) == 0
        broker.stop()
