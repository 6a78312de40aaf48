"""The idempotent consumer: inbox row + effect in one transaction, offsets committed after it.

A record that keeps failing is retried a bounded number of times, then sent to
``<topic>.dlq`` with the error in its headers, so one poison record never blocks a partition.
Nothing is swallowed: if even the DLQ cannot take it, the consumer stops without committing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent, decode_event
from dunning.common.events.topics import dlq_topic
from dunning.common.health import Heartbeat
from dunning.common.inbox import claim_event, prune_inbox
from dunning.common.metrics import CONSUMER_EVENTS, CONSUMER_LAG

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


class PermanentFailure(Exception):
    """A handler's verdict that retrying cannot help (the event itself is wrong): dead-letter now."""


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    name: str  # the consumer group, and the inbox's consumer name
    topics: Sequence[str]
    inbox_schema: str
    max_attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    max_batch: int = 100
    poll_timeout_ms: int = 500
    group_instance_id: str | None = None  # static membership (e.g. the pod name)
    # Inbox rows older than this are deleted: a redelivery can only come from the outbox's
    # republishing, which stops at its retention (7 days by default), so 30 days is ample.
    inbox_retention: timedelta = timedelta(days=30)
    inbox_prune_every: float = 3600.0


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: EventConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._owner.commit_processed(revoked)
        self._owner.forget_lag(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned", consumer=self._owner.config.name, partitions=len(assigned))


class EventConsumer:
    def __init__(
        self,
        db: Database,
        bootstrap: str,
        config: ConsumerConfig,
        handler: Handler,
        dlq_producer: AIOKafkaProducer,
    ) -> None:
        self.config = config
        self._db = db
        self._bootstrap = bootstrap
        self._handler = handler
        self._dlq = dlq_producer
        self._consumer: AIOKafkaConsumer | None = None
        self._processed: dict[TopicPartition, int] = {}
        self.heartbeat = Heartbeat(f"consumer:{config.name}", stale_after=60.0)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``: finish the record in hand, commit, leave the group."""
        cfg = self.config
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=cfg.name,
            group_instance_id=cfg.group_instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=cfg.name,
        )
        self._consumer = consumer
        consumer.subscribe(list(cfg.topics), listener=_CommitOnRevoke(self))
        await consumer.start()
        pruned_at = 0.0
        try:
            while not stop.is_set():
                self.heartbeat.beat()
                if time.monotonic() - pruned_at >= cfg.inbox_prune_every:
                    pruned_at = time.monotonic()
                    await self._prune_inbox()
                batches = await consumer.getmany(timeout_ms=cfg.poll_timeout_ms, max_records=cfg.max_batch)
                for tp, records in batches.items():
                    for record in records:
                        # A rebalance while this batch was handled (a broker restart, a replica
                        # joining) took the partition away: its new owner reads on from the last
                        # commit, and the inbox drops what was already applied here.
                        if stop.is_set() or tp not in consumer.assignment():
                            break
                        await self._process(record)
                        self._processed[tp] = record.offset + 1
                    self._report_lag(consumer, tp)
                    await self.commit_processed([tp])
        finally:
            try:
                await self.commit_processed(list(self._processed))
                self.forget_lag(list(consumer.assignment()))
            finally:
                await consumer.stop()  # leaves the group: partitions move at once, not after a timeout
                self._consumer = None

    async def _prune_inbox(self) -> None:
        try:
            async with self._db.unit_of_work() as uow:
                await prune_inbox(
                    uow.session, self.config.inbox_schema, self.config.name, self.config.inbox_retention
                )
                await uow.commit()
        except Exception as exc:  # upkeep only: the next round tries again
            log.warning("inbox pruning failed", consumer=self.config.name, error=repr(exc))

    def forget_lag(self, partitions: Sequence[TopicPartition]) -> None:
        """Stop exporting lag for partitions this process no longer owns (another one reports them)."""
        for tp in partitions:
            try:
                CONSUMER_LAG.remove(self.config.name, tp.topic, str(tp.partition))
            except KeyError:
                pass  # never reported here

    def _report_lag(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        # The high watermark comes with every fetch response: no extra request, and unlike
        # ListOffsets it is exact on every broker we run on.
        if tp not in consumer.assignment():
            return  # revoked meanwhile: highwater() would raise, and the new owner reports it
        highwater = consumer.highwater(tp)
        position = self._processed.get(tp)
        if highwater is not None and position is not None:
            CONSUMER_LAG.labels(self.config.name, tp.topic, str(tp.partition)).set(
                max(0, highwater - position)
            )

    async def commit_processed(self, partitions: Sequence[TopicPartition]) -> None:
        if self._consumer is None:
            return
        offsets = {tp: self._processed.pop(tp) for tp in partitions if tp in self._processed}
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            # The group moved on (a rebalance, a restarted broker or coordinator): these offsets
            # are no longer ours to commit. Not committing only means the partition's next owner
            # reads these records again, and the inbox drops them; crashing the process would
            # stop every other partition too.
            log.warning("offset commit skipped", consumer=self.config.name, error=repr(exc))

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        cfg = self.config
        try:
            event = decode_event(record.value)
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(record, exc, attempts=1)
            return
        backoff = cfg.initial_backoff
        last_error: Exception | None = None
        for attempt in range(1, cfg.max_attempts + 1):
            try:
                applied = await self._apply(event)
            except PermanentFailure as exc:
                await self._dead_letter(record, exc, attempts=attempt)
                return
            except Exception as exc:  # retried below, then dead-lettered: never dropped
                last_error = exc
                log.warning(
                    "event handling failed",
                    consumer=cfg.name,
                    event_id=event.id,
                    type=event.type,
                    attempt=attempt,
                    error=repr(exc),
                )
                if attempt < cfg.max_attempts:
                    await asyncio.sleep(backoff)
                    backoff = min(cfg.max_backoff, backoff * 2)
                continue
            CONSUMER_EVENTS.labels(cfg.name, record.topic, "applied" if applied else "duplicate").inc()
            return
        assert last_error is not None
        await self._dead_letter(record, last_error, attempts=cfg.max_attempts)

    async def _apply(self, event: CloudEvent) -> bool:
        async with self._db.unit_of_work() as uow:
            if not await claim_event(uow.session, self.config.inbox_schema, self.config.name, event.id):
                return False
            await self._handler(uow.session, event)
            await uow.commit()
            return True

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: Exception, attempts: int
    ) -> None:
        headers = [
            *(record.headers or ()),
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
            ("dlq.consumer", self.config.name.encode()),
            ("dlq.error.class", type(error).__name__.encode()),
            ("dlq.error.message", str(error)[:1000].encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        # Awaited: if the DLQ is unreachable this raises, the offset stays uncommitted, and the
        # record comes back after a restart rather than being lost.
        await self._dlq.send_and_wait(
            dlq_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        CONSUMER_EVENTS.labels(self.config.name, record.topic, "dead_lettered").inc()
        log.error(
            "record dead-lettered",
            consumer=self.config.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=type(error).__name__,
        )
