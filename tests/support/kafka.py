"""Read what landed on a topic after a point in time, without joining a consumer group."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


class TopicTap:
    """Remembers each partition's end when opened; ``read`` returns records written after it."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicTap:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await consumer.start()
        partitions = [
            TopicPartition(self._topic, p) for p in sorted(consumer.partitions_for_topic(self._topic) or ())
        ]
        if not partitions:
            await consumer.stop()
            raise RuntimeError(f"topic {self._topic} has no partitions")
        consumer.assign(partitions)
        # ListOffsets is not exact on Tansu 0.6 (see dunning.common.kafka.records_present):
        # start at the reported end, then skip whatever is already there.
        for tp, offset in (await consumer.end_offsets(partitions)).items():
            consumer.seek(tp, offset)
        while await consumer.getmany(timeout_ms=300):
            pass
        self._consumer = consumer
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def read(
        self, *, at_least: int, timeout: float = 10.0, settle: float = 0.5
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Records after the start: wait for ``at_least``, then ``settle`` more seconds for extras."""
        assert self._consumer is not None
        records: list[ConsumerRecord[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and len(records) < at_least:
            batch = await self._consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        settle_until = loop.time() + settle
        while loop.time() < settle_until:
            batch = await self._consumer.getmany(timeout_ms=100)
            for part in batch.values():
                records.extend(part)
        return records
