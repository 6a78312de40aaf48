"""The outbox relay: publish committed outbox rows to Kafka, in order, at least once.

One batch at a time per schema across all replicas (a transaction-scoped advisory lock), rows
in id order, so each key's events reach the bus in the order they were staged (concurrent
transactions staging the same key commit in either order; consumers tolerate that anyway).
Woken by ``LISTEN/NOTIFY`` with a polling fallback.
It also notices when the broker lost records it had acknowledged (an embedded broker restart,
a truncated topic) and publishes again what is still within retention (DESIGN §2).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dunning.common.db import Database, asyncpg_dsn
from dunning.common.health import Heartbeat
from dunning.common.kafka import records_lost
from dunning.common.metrics import (
    OUTBOX_LAG_SECONDS,
    OUTBOX_PENDING,
    OUTBOX_PUBLISH_ERRORS,
    OUTBOX_PUBLISHED,
    OUTBOX_REPUBLISHED,
)
from dunning.common.migrations import check_schema_name
from dunning.common.outbox import NOTIFY_CHANNEL

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    batch_size: int = 500
    poll_interval: float = 1.0
    broker_check_interval: float = 30.0
    housekeeping_interval: float = 60.0
    retention: timedelta = timedelta(days=7)
    max_backoff: float = 10.0
    # After a wake-up, wait this long so that a burst of commits goes out as one batch: a
    # few milliseconds of publish latency for far less work per event under load.
    coalesce_delay: float = 0.005


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        producer: AIOKafkaProducer,
        bootstrap: str,
        schemas: Sequence[str],
        config: RelayConfig | None = None,
    ) -> None:
        self._db = db
        self._producer = producer
        self._bootstrap = bootstrap
        self._schemas = [check_schema_name(s) for s in schemas]
        self._config = config or RelayConfig()
        self._wake = {schema: asyncio.Event() for schema in self._schemas}
        self._listener: asyncpg.Connection | None = None
        self.heartbeat = Heartbeat("outbox-relay", stale_after=max(30.0, self._config.poll_interval * 10))

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; a batch in flight is finished first."""
        self._listener = await self._listen()
        try:
            for schema in self._schemas:
                try:
                    await self.recover_lost_records(schema)
                except Exception as exc:  # the broker is not up yet: the maintenance loop retries
                    log.warning("broker check failed at start", schema=schema, error=repr(exc))
            async with asyncio.TaskGroup() as group:
                for schema in self._schemas:
                    group.create_task(self._relay_loop(schema, stop))
                group.create_task(self._maintenance_loop(stop))
        finally:
            if self._listener is not None:
                await self._listener.close()

    async def publish_pending(self, schema: str) -> int:
        """Publish one batch of ``schema``'s unsent rows; the number published."""
        cfg = self._config
        async with self._db.engine.connect() as conn, conn.begin():
            locked = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _lock_key(schema)})
            if not locked:
                return 0  # another replica is publishing this schema right now
            rows = (
                await conn.execute(
                    text(
                        f"SELECT id, topic, key, value, headers FROM {schema}.outbox "
                        "WHERE sent_at IS NULL ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
                    ),
                    {"n": cfg.batch_size},
                )
            ).all()
            if not rows:
                return 0
            try:
                futures = [
                    await self._producer.send(
                        row.topic,
                        value=bytes(row.value),
                        key=row.key.encode(),
                        headers=[(k, str(v).encode()) for k, v in row.headers.items()],
                    )
                    for row in rows
                ]
                metadata = await asyncio.gather(*futures)
            except Exception as exc:
                await conn.execute(
                    text(
                        f"UPDATE {schema}.outbox SET publish_attempts = publish_attempts + 1, "
                        "last_error = :error WHERE id = ANY(:ids)"
                    ),
                    {"error": f"{type(exc).__name__}: {exc}"[:500], "ids": [r.id for r in rows]},
                )
                await conn.commit()
                raise
            await conn.execute(
                text(f"UPDATE {schema}.outbox SET sent_at = now(), last_error = NULL WHERE id = ANY(:ids)"),
                {"ids": [r.id for r in rows]},
            )
            high: dict[tuple[str, int], int] = {}
            for md in metadata:
                tp = (md.topic, md.partition)
                high[tp] = max(high.get(tp, -1), md.offset)
            # A partition only grows: an offset at or below one it gave us before means the
            # broker lost its log (a restart, a recreated topic) since. Found now rather than at
            # the next periodic check, which would miss it once the new log had grown past the
            # old watermark: what was published before and not yet consumed would be gone.
            # This batch is queued again too, to follow the older rows: a consumer that kept
            # its position in the old log (or whose stale commit the new broker took) reads on
            # from that offset in the new one, and would skip this batch at its head; after the
            # older rows it sits at or beyond any old position (the chaos run lost 3 this way).
            restarted = await self._offsets_went_back(conn, schema, high)
            if restarted:
                requeued = await self._requeue(conn, schema, restarted, keep=[])
                log.warning(
                    "broker offsets went back: it lost published records; republishing",
                    schema=schema,
                    topics=restarted,
                    rows=len(requeued),
                )
                for topic in requeued:
                    OUTBOX_REPUBLISHED.labels(schema, topic).inc()
                self._wake[schema].set()
            await conn.execute(
                text(
                    f"INSERT INTO {schema}.outbox_watermarks (topic, partition, high_offset) "
                    "SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:parts AS int[]), "
                    "CAST(:offsets AS bigint[])) "
                    "ON CONFLICT (topic, partition) DO UPDATE SET "
                    "high_offset = GREATEST(outbox_watermarks.high_offset, EXCLUDED.high_offset), "
                    "updated_at = now()"
                ),
                {
                    "topics": [t for t, _ in high],
                    "parts": [p for _, p in high],
                    "offsets": list(high.values()),
                },
            )
        for row in rows:
            OUTBOX_PUBLISHED.labels(schema, row.topic).inc()
        return len(rows)

    async def recover_lost_records(self, schema: str) -> int:
        """Queue again what the broker no longer has; the number of rows queued."""
        async with self._db.engine.connect() as conn:
            marks = (
                await conn.execute(
                    text(f"SELECT topic, partition, high_offset FROM {schema}.outbox_watermarks")
                )
            ).all()
        if not marks:
            return 0
        gone = await records_lost(self._bootstrap, {(m.topic, m.partition): m.high_offset for m in marks})
        lost = sorted({topic for topic, _ in gone})
        if not lost:
            return 0
        async with self._db.engine.begin() as conn:
            requeued = await self._requeue(conn, schema, lost, keep=[])
        for topic in requeued:
            OUTBOX_REPUBLISHED.labels(schema, topic).inc()
        log.warning(
            "broker lost published records; republishing",
            schema=schema,
            topics=lost,
            rows=len(requeued),
        )
        self._wake[schema].set()
        return len(requeued)

    async def _offsets_went_back(
        self, conn: AsyncConnection, schema: str, high: dict[tuple[str, int], int]
    ) -> list[str]:
        marks = await conn.execute(
            text(
                f"SELECT topic, partition, high_offset FROM {schema}.outbox_watermarks WHERE topic = ANY(:t)"
            ),
            {"t": sorted({topic for topic, _ in high})},
        )
        return sorted(
            {
                m.topic
                for m in marks
                if (m.topic, m.partition) in high and high[(m.topic, m.partition)] <= m.high_offset
            }
        )

    async def _requeue(
        self, conn: AsyncConnection, schema: str, topics: list[str], keep: list[int]
    ) -> list[str]:
        """Mark unsent again what ``topics`` had within retention (but ``keep``); forget their
        watermarks. The topics of the rows queued again."""
        result = await conn.execute(
            text(
                f"UPDATE {schema}.outbox SET sent_at = NULL WHERE topic = ANY(:topics) "
                "AND sent_at IS NOT NULL AND created_at > now() - make_interval(secs => :secs) "
                "AND id <> ALL(:keep) RETURNING topic"
            ),
            {"topics": topics, "secs": self._config.retention.total_seconds(), "keep": keep},
        )
        requeued = [row.topic for row in result]
        await conn.execute(
            text(f"DELETE FROM {schema}.outbox_watermarks WHERE topic = ANY(:topics)"), {"topics": topics}
        )
        return requeued

    async def _relay_loop(self, schema: str, stop: asyncio.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            self.heartbeat.beat()
            try:
                published = await self.publish_pending(schema)
                backoff = 0.0
            except Exception as exc:  # the broker or the DB is down: keep rows, back off, retry
                OUTBOX_PUBLISH_ERRORS.labels(schema).inc()
                backoff = min(self._config.max_backoff, max(0.2, backoff * 2))
                log.warning("outbox publish failed", schema=schema, error=repr(exc), retry_in=backoff)
                await _wait(stop, backoff)
                continue
            if published < self._config.batch_size:
                await self._wait_for_work(schema, stop)

    async def _wait_for_work(self, schema: str, stop: asyncio.Event) -> None:
        wake = self._wake[schema]
        waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
        try:
            await asyncio.wait(
                waiters, timeout=self._config.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        if wake.is_set() and not stop.is_set():
            await asyncio.sleep(self._config.coalesce_delay)
        wake.clear()

    async def _maintenance_loop(self, stop: asyncio.Event) -> None:
        cfg = self._config
        last_check = asyncio.get_running_loop().time()
        while not stop.is_set():
            await _wait(stop, min(cfg.housekeeping_interval, cfg.broker_check_interval))
            if stop.is_set():
                return
            if self._listener is None or self._listener.is_closed():
                self._listener = await self._listen()  # the LISTEN connection dropped: reopen it
            for schema in self._schemas:
                try:
                    await self._housekeeping(schema)
                    if asyncio.get_running_loop().time() - last_check >= cfg.broker_check_interval:
                        await self.recover_lost_records(schema)
                except Exception as exc:
                    log.warning("outbox maintenance failed", schema=schema, error=repr(exc))
            last_check = asyncio.get_running_loop().time()

    async def _housekeeping(self, schema: str) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(
                text(
                    f"DELETE FROM {schema}.outbox WHERE sent_at IS NOT NULL "
                    "AND created_at < now() - make_interval(secs => :secs)"
                ),
                {"secs": self._config.retention.total_seconds()},
            )
            row = (
                await conn.execute(
                    text(
                        "SELECT count(*) AS pending, "
                        "COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS lag "
                        f"FROM {schema}.outbox WHERE sent_at IS NULL"
                    )
                )
            ).one()
        OUTBOX_PENDING.labels(schema).set(row.pending)
        OUTBOX_LAG_SECONDS.labels(schema).set(float(row.lag))

    async def _listen(self) -> asyncpg.Connection | None:
        """A connection LISTENing for wake-ups, or None (then polling alone keeps things moving)."""
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(asyncpg_dsn(self._db.url))

            def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
                if payload in self._wake:
                    self._wake[payload].set()

            await conn.add_listener(NOTIFY_CHANNEL, on_notify)
            return conn
        except Exception as exc:
            log.warning("LISTEN unavailable; relying on polling", error=repr(exc))
            if conn is not None:
                conn.terminate()
            return None


def _lock_key(schema: str) -> int:
    return zlib.crc32(f"outbox:{schema}".encode())


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


__all__ = ["OutboxRelay", "RelayConfig"]
