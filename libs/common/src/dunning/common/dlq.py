"""Dead-letter queues: look at what failed, and put it back on its topic once the cause is fixed."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from dunning.common.events.topics import dlq_topic

_REPLAY_GROUP = "dunning-dlq-replay"
_DLQ_HEADER_PREFIX = "dlq."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def original_topic(self) -> str | None:
        return self.headers.get("dlq.topic")


def dlq_name(topic: str) -> str:
    """Accept either the topic or its DLQ's name."""
    return topic if topic.endswith(".dlq") else dlq_topic(topic)


def _letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=headers,
    )


async def peek(bootstrap: str, topic: str, *, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters from the start of the DLQ; reads only, commits nothing."""
    name = dlq_name(topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        letters: list[DeadLetter] = []
        # Read until the broker has nothing more (end offsets are not exact on every broker).
        while len(letters) < limit:
            batches = await consumer.getmany(timeout_ms=1000, max_records=limit - len(letters))
            if not batches:
                break
            for records in batches.values():
                letters.extend(_letter(r) for r in records)
        return sorted(letters, key=lambda d: (d.partition, d.offset))[:limit]
    finally:
        await consumer.stop()


async def replay(bootstrap: str, topic: str, producer: AIOKafkaProducer, *, limit: int | None = None) -> int:
    """Publish dead letters back to their original topic; the number replayed.

    A consumer group remembers how far replay got, so running it twice does not replay the
    same letters twice; a record that fails again is dead-lettered again, after the mark.
    """
    name = dlq_name(topic)
    consumer = AIOKafkaConsumer(
        name,
        bootstrap_servers=bootstrap,
        group_id=_REPLAY_GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    replayed = 0
    try:
        while limit is None or replayed < limit:
            batches = await consumer.getmany(
                timeout_ms=2000, max_records=None if limit is None else limit - replayed
            )
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    letter = _letter(record)
                    target = letter.original_topic or name.removesuffix(".dlq")
                    headers = [
                        (k, v.encode())
                        for k, v in letter.headers.items()
                        if not k.startswith(_DLQ_HEADER_PREFIX)
                    ]
                    headers.append(
                        ("dlq.replayed_from", f"{name}/{letter.partition}/{letter.offset}".encode())
                    )
                    await producer.send_and_wait(target, value=letter.value, key=letter.key, headers=headers)
                    replayed += 1
                # Commit only what is on the original topic again: a crash replays, never drops.
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await consumer.stop()
    return replayed
