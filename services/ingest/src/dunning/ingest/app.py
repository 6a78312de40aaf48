"""Ingest's slice of the HTTP app: ``create_app(settings)`` for ``dunning serve ingest``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import APIRouter, FastAPI

from dunning.common.clock import Clock, SystemClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.http import build_app
from dunning.common.migrations import MigrationSet
from dunning.ingest.api import router
from dunning.ingest.maintenance import RawBodyJanitor
from dunning.ingest.pipeline import WebhookPipeline
from dunning.ingest.processors import default_adapters
from dunning.ingest.settings import IngestSettings
from dunning.ingest.tables import SCHEMA

MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="dunning.ingest:migrations")
OUTBOX_SCHEMA = SCHEMA


def routers() -> list[APIRouter]:
    return [router]


def install(app: FastAPI, settings: IngestSettings, db: Database, box: SecretBox, clock: Clock) -> None:
    """Wire ingest's state onto an app that may also carry other services' routes."""
    adapters = default_adapters(tolerance_seconds=settings.webhook_tolerance_seconds)
    app.state.webhook_pipeline = WebhookPipeline(
        db, box, adapters, clock, secret_cache_seconds=settings.webhook_secret_cache_seconds
    )
    app.state.webhook_max_body_bytes = settings.webhook_max_body_bytes


def raw_body_janitor(settings: IngestSettings, db: Database) -> RawBodyJanitor:
    return RawBodyJanitor(db, retention=timedelta(days=settings.webhook_raw_body_retention_days))


def create_app(settings: IngestSettings, *, clock: Clock | None = None) -> FastAPI:
    """A standalone ingest app: no work at import time; connections open in the lifespan."""
    settings.require("database_url", "secret_key")
    health = Health()
    box = SecretBox(settings.require_secret_key())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.require_database_url())
        health.add_check("database", db.ping)
        install(app, settings, db, box, clock or SystemClock())
        janitor = raw_body_janitor(settings, db)
        health.add_heartbeat(janitor.heartbeat)
        stop = asyncio.Event()
        task = asyncio.create_task(janitor.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task
            await db.dispose()

    return build_app(
        title="Dunning ingest",
        routers=routers(),
        health=health,
        lifespan=lifespan,
        max_body_size=settings.api_max_body_bytes,
    )
