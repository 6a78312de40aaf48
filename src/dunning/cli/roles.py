"""``dunning serve ROLE``: one role per process, against external PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import uvicorn

from dunning.cli.system import OUTBOX_SCHEMAS
from dunning.common.db import Database
from dunning.common.kafka import make_producer
from dunning.common.relay import OutboxRelay, RelayConfig
from dunning.ingest.app import create_app as create_ingest_app
from dunning.ingest.settings import IngestSettings


def serve_role(role: str, settings: IngestSettings) -> None:
    if role == "ingest":
        port = getattr(settings, "http_port", 8080)
        uvicorn.run(
            create_ingest_app(settings),
            host="0.0.0.0",
            port=port,
            log_config=None,
            access_log=False,
        )
    elif role == "relay":
        asyncio.run(_relay(settings))
    else:
        raise SystemExit(f"unknown role {role!r}")


async def _relay(settings: IngestSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    db = Database(settings.require_database_url())
    producer = make_producer(
        settings.require_kafka_bootstrap(),
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="dunning-relay",
    )
    await producer.start()
    try:
        relay = OutboxRelay(
            db,
            producer,
            settings.require_kafka_bootstrap(),
            OUTBOX_SCHEMAS,
            RelayConfig(retention=timedelta(days=settings.outbox_retention_days)),
        )
        await relay.run(stop)
    finally:
        await producer.stop()
        await db.dispose()
