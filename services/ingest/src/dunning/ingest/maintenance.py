"""Ingest's background upkeep: raw webhook bodies are kept only as long as they are useful."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from dunning.common.db import Database
from dunning.common.health import Heartbeat
from dunning.ingest import repository

log = structlog.get_logger(__name__)


class RawBodyJanitor:
    """Empties raw bodies past retention, hourly; any replica may run it (rows are claimed)."""

    def __init__(self, db: Database, *, retention: timedelta, interval: float = 3600.0) -> None:
        self._db = db
        self._retention = retention
        self._interval = interval
        self.heartbeat = Heartbeat("ingest-janitor", stale_after=interval * 3)

    async def run_once(self) -> int:
        pruned = 0
        while True:
            async with self._db.unit_of_work() as uow:
                count = await repository.prune_raw_bodies(uow.session, older_than=self._retention)
                await uow.commit()
            pruned += count
            if count == 0:
                return pruned

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.heartbeat.beat()
            try:
                pruned = await self.run_once()
                if pruned:
                    log.info("raw webhook bodies pruned", rows=pruned)
            except Exception as exc:  # upkeep only: log, try again next round
                log.warning("raw body pruning failed", error=repr(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=self._interval)
            except TimeoutError:
                pass
