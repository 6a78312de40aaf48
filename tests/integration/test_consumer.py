"""The idempotent consumer kit: effects once, poison to the DLQ, offsets only after commit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Infra
from tests.support.kafka import TopicTap

from dunning.common.consumer import ConsumerConfig, EventConsumer
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent, decode_event, encode_event
from dunning.common.events.topics import dlq_topic
from dunning.common.inbox import prune_inbox
from dunning.common.kafka import ensure_topics, make_producer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SCHEMA = "kit_test"


@pytest_asyncio.fixture
async def effects_db(db: Database) -> Database:
    """A throwaway schema with an inbox and an effects table (no UNIQUE: doubles would show)."""
    async with db.engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.execute(
            text(
                f"CREATE TABLE {SCHEMA}.inbox (consumer text, event_id text, "
                "processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id))"
            )
        )
        await conn.execute(text(f"CREATE TABLE {SCHEMA}.effects (event_id text NOT NULL, n int NOT NULL)"))
    return db


@pytest_asyncio.fixture
async def topic(infra: Infra) -> str:
    name = f"test.kit.{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.bootstrap, [name, dlq_topic(name)], partitions=2)
    return name


@pytest_asyncio.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(infra.bootstrap, enable_idempotence=False, client_id="test")
    await p.start()
    yield p
    await p.stop()


def event(n: int, *, event_id: str | None = None, subject: str = "ten_1:in_1") -> CloudEvent:
    return CloudEvent(
        id=event_id or f"ev-{n}",
        source="/test",
        type="dunning.test.happened.v1",
        subject=subject,
        time=datetime.now(UTC),
        tenantid="ten_1",
        data={"n": n},
    )


async def record_effect(session: AsyncSession, ev: CloudEvent) -> None:
    await session.execute(
        text(f"INSERT INTO {SCHEMA}.effects (event_id, n) VALUES (:id, :n)"), {"id": ev.id, "n": ev.data["n"]}
    )


async def effects(db: Database) -> list[tuple[str, int]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT event_id, n FROM {SCHEMA}.effects ORDER BY n"))
        return [(r.event_id, r.n) for r in rows]


async def run_until(consumer: EventConsumer, condition: object, timeout: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not await condition():  # type: ignore[operator]
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def committed(infra: Infra, group: str, topic: str) -> int:
    probe = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap, group_id=group, enable_auto_commit=False)
    await probe.start()
    try:
        total = 0
        for p in probe.partitions_for_topic(topic) or ():
            total += await probe.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        await probe.stop()


async def test_redelivered_events_take_effect_once_and_offsets_are_committed(
    effects_db: Database, topic: str, producer: AIOKafkaProducer, infra: Infra
) -> None:
    for n in range(10):
        await producer.send_and_wait(topic, encode_event(event(n)), key=b"k")
    for n in range(10):  # every event delivered again, as after a relay crash
        await producer.send_and_wait(topic, encode_event(event(n)), key=b"k")
    config = ConsumerConfig(name=f"g-{topic}", topics=[topic], inbox_schema=SCHEMA)
    consumer = EventConsumer(effects_db, infra.bootstrap, config, record_effect, producer)

    def lags() -> list[float | None]:
        return [
            REGISTRY.get_sample_value(
                "dunning_consumer_lag", {"consumer": config.name, "topic": topic, "partition": str(p)}
            )
            for p in range(2)
        ]

    while_running: list[float | None] = []

    async def all_seen() -> bool:
        done = await committed(infra, config.name, topic) == 20
        if done:
            while_running.extend(lags())
        return done

    await run_until(consumer, all_seen)
    assert await effects(effects_db) == [(f"ev-{n}", n) for n in range(10)]
    assert [lag for lag in while_running if lag is not None] == [0.0]  # one partition had the records
    # Stopped, it owns no partition: it reports no lag, so a stale value cannot page anyone.
    assert lags() == [None, None]


async def test_poison_event_goes_to_the_dlq_after_bounded_retries_and_does_not_block(
    effects_db: Database, topic: str, producer: AIOKafkaProducer, infra: Infra
) -> None:
    calls: list[str] = []

    async def handler(session: AsyncSession, ev: CloudEvent) -> None:
        calls.append(ev.id)
        if ev.data["n"] == 1:
            raise RuntimeError("cannot apply event 1")
        await record_effect(session, ev)

    for n in range(3):
        await producer.send_and_wait(topic, encode_event(event(n)), key=b"same-partition")
    config = ConsumerConfig(
        name=f"g-{topic}", topics=[topic], inbox_schema=SCHEMA, max_attempts=3, initial_backoff=0.01
    )
    consumer = EventConsumer(effects_db, infra.bootstrap, config, handler, producer)
    async with TopicTap(infra.bootstrap, dlq_topic(topic)) as dlq:

        async def done() -> bool:
            return len(await effects(effects_db)) == 2

        await run_until(consumer, done)
        dead = await dlq.read(at_least=1)

    assert await effects(effects_db) == [("ev-0", 0), ("ev-2", 2)]
    assert calls.count("ev-1") == 3
    assert len(dead) == 1
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["dlq.topic"] == topic
    assert headers["dlq.error.class"] == "RuntimeError"
    assert headers["dlq.error.message"] == "cannot apply event 1"
    assert headers["dlq.attempts"] == "3"
    original = decode_event(dead[0].value)  # the original record, untouched
    assert (original.id, original.data) == ("ev-1", {"n": 1})


async def test_undecodable_record_is_dead_lettered_at_once(
    effects_db: Database, topic: str, producer: AIOKafkaProducer, infra: Infra
) -> None:
    await producer.send_and_wait(topic, b"{not json", key=b"k")
    await producer.send_and_wait(topic, encode_event(event(7)), key=b"k")
    config = ConsumerConfig(name=f"g-{topic}", topics=[topic], inbox_schema=SCHEMA)
    consumer = EventConsumer(effects_db, infra.bootstrap, config, record_effect, producer)
    async with TopicTap(infra.bootstrap, dlq_topic(topic)) as dlq:

        async def done() -> bool:
            return len(await effects(effects_db)) == 1

        await run_until(consumer, done)
        dead = await dlq.read(at_least=1)
    assert [r.value for r in dead] == [b"{not json"]
    assert dict(dead[0].headers)["dlq.attempts"] == b"1"


async def test_stop_mid_stream_commits_what_was_applied_and_a_restart_applies_the_rest_once(
    effects_db: Database, topic: str, producer: AIOKafkaProducer, infra: Infra
) -> None:
    for n in range(40):
        await producer.send_and_wait(
            topic, encode_event(event(n, subject=f"ten_1:in_{n % 4}")), key=f"k{n % 4}".encode()
        )

    async def slow(session: AsyncSession, ev: CloudEvent) -> None:
        await asyncio.sleep(0.02)
        await record_effect(session, ev)

    config = ConsumerConfig(name=f"g-{topic}", topics=[topic], inbox_schema=SCHEMA, max_batch=5)
    first = EventConsumer(effects_db, infra.bootstrap, config, slow, producer)

    async def some() -> bool:
        return len(await effects(effects_db)) >= 10

    await run_until(first, some)
    applied_before_restart = len(await effects(effects_db))
    assert 10 <= applied_before_restart < 40
    assert await committed(infra, config.name, topic) == applied_before_restart

    second = EventConsumer(effects_db, infra.bootstrap, config, slow, producer)

    async def rest() -> bool:
        return await committed(infra, config.name, topic) == 40

    await run_until(second, rest)
    assert sorted(n for _, n in await effects(effects_db)) == list(range(40))


async def test_old_inbox_rows_are_pruned_and_recent_ones_kept(effects_db: Database) -> None:
    async with effects_db.engine.begin() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {SCHEMA}.inbox (consumer, event_id, processed_at) VALUES "
                "('c', 'old', now() - interval '31 days'), ('c', 'new', now()), "
                "('other', 'old', now() - interval '90 days')"
            )
        )
    async with effects_db.unit_of_work() as uow:
        assert await prune_inbox(uow.session, SCHEMA, "c", timedelta(days=30)) == 1
        await uow.commit()
    async with effects_db.engine.connect() as conn:
        left = (
            await conn.execute(text(f"SELECT consumer, event_id FROM {SCHEMA}.inbox ORDER BY 1, 2"))
        ).all()
    assert [tuple(r) for r in left] == [("c", "new"), ("other", "old")]  # another consumer's rows are its own


async def test_a_partition_revoked_under_the_loop_is_left_to_its_new_owner_not_a_crash(
    effects_db: Database, topic: str, producer: AIOKafkaProducer, infra: Infra
) -> None:
    """Found by the chaos run: after a broker restart a retry and a notify process died with
    ``IllegalStateError: Partition ... is not assigned`` from the lag report and the offset
    commit that follow a batch, because the group had taken the batch's partition away while it
    was handled. Committing for a partition no longer ours is skipped (its new owner reads the
    records again and the inbox drops them); the process goes on with its other partitions."""
    config = ConsumerConfig(name=f"g-{topic}", topics=[topic], inbox_schema=SCHEMA)
    owner = EventConsumer(effects_db, infra.bootstrap, config, record_effect, producer)
    kafka = AIOKafkaConsumer(
        bootstrap_servers=infra.bootstrap, group_id=config.name, enable_auto_commit=False
    )
    await kafka.start()
    try:
        kept, taken = TopicPartition(topic, 0), TopicPartition(topic, 1)
        kafka.assign([kept])  # the state after the rebalance: partition 1 went elsewhere
        owner._consumer = kafka
        owner._processed = {kept: 0, taken: 3}
        owner._report_lag(kafka, taken)  # raised AssertionError: Partition is not assigned
        await owner.commit_processed([kept, taken])  # raised IllegalStateError
        assert await kafka.committed(kept) == 0  # what is still ours is committed
        assert await kafka.committed(taken) is None
        assert owner._processed == {}
    finally:
        await kafka.stop()
