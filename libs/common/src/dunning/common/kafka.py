"""aiokafka plumbing: producers, topic creation and partition end offsets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import OffsetOutOfRangeError, TopicAlreadyExistsError

from dunning.common.events.topics import dlq_topic


def make_producer(bootstrap: str, *, enable_idempotence: bool, client_id: str) -> AIOKafkaProducer:
    # acks=all: a publish counts only once every in-sync replica has it. Idempotence is a
    # setting because Kafka-protocol brokers such as Tansu do not implement it (DESIGN §2).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=enable_idempotence,
        linger_ms=2,
        request_timeout_ms=15_000,
    )


def topics_with_dlq(topics: Iterable[str]) -> list[str]:
    names: list[str] = []
    for topic in topics:
        names.extend((topic, dlq_topic(topic)))
    return names


async def ensure_topics(
    bootstrap: str, topics: Sequence[str], *, partitions: int, replication_factor: int = 1
) -> None:
    """Create missing topics; existing ones are left exactly as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="dunning-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=name, num_partitions=partitions, replication_factor=replication_factor)
            for name in topics
            if name not in existing
        ]
        if not missing:
            return
        try:
            await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            pass  # another replica created it between our list and create: same outcome
    finally:
        await admin.close()


async def records_lost(
    bootstrap: str, offsets: dict[tuple[str, int], int], *, timeout: float = 3.0
) -> set[tuple[str, int]]:
    """The (topic, partition)s whose record at the given offset the broker no longer has.

    Reads the records rather than trusting ListOffsets alone: Tansu 0.6 reports a partition's
    end as the last *batch's* base offset + 1, not the log end. A record fetched is present.
    One not fetched within ``timeout`` is lost only if the reported end is at or below its
    offset (that end is a lower bound of the true one); otherwise it is presumed present and
    looked at again next time, so a slow broker does not trigger a mass republish.
    """
    if not offsets:
        return set()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="none"
    )
    await consumer.start()
    try:
        known = {t: consumer.partitions_for_topic(t) or set() for t, _ in offsets}
        lost = {(t, p) for (t, p) in offsets if p not in known[t]}  # the topic or partition is gone
        wanted = {TopicPartition(t, p): o for (t, p), o in offsets.items() if p in known[t]}
        if not wanted:
            return lost
        consumer.assign(list(wanted))
        for tp, offset in wanted.items():
            consumer.seek(tp, offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = set(wanted)
        while pending and loop.time() < deadline:
            try:
                batches = await consumer.getmany(*pending, timeout_ms=200)
            except OffsetOutOfRangeError:
                break  # decided below from the end offsets
            for tp, records in batches.items():
                if any(r.offset == wanted[tp] for r in records):
                    pending.discard(tp)
        if pending:
            ends = await consumer.end_offsets(list(pending))
            lost |= {(tp.topic, tp.partition) for tp in pending if ends.get(tp, 0) <= wanted[tp]}
        return lost
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """The next offset of every partition of ``topics`` (a topic the broker lacks has none)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        result: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return result
    finally:
        await consumer.stop()
