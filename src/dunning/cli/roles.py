"""``dunning serve ROLE``: one role per process, against external PostgreSQL and Kafka.

Every role serves ``/healthz``, ``/readyz`` and ``/metrics`` on ``DUNNING_HTTP_HOST:PORT`` so
that Kubernetes probes and Prometheus see each process, not just the API ones.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
import uvicorn
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI

from dunning.cli.settings import SystemSettings
from dunning.cli.system import OUTBOX_SCHEMAS, QuietServer
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.topics import ALL_TOPICS
from dunning.common.health import Health
from dunning.common.http import build_app
from dunning.common.http_server import server_config
from dunning.common.kafka import end_offsets, ensure_topics, make_producer, topics_with_dlq
from dunning.common.relay import OutboxRelay, RelayConfig
from dunning.common.tenancy import api as tenancy_api
from dunning.ingest.app import create_app as create_ingest_app
from dunning.notify import app as notify
from dunning.retry import app as retry

Worker = Callable[[asyncio.Event], Awaitable[None]]
log = structlog.get_logger(__name__)


def serve_role(role: str, settings: SystemSettings) -> None:
    if role == "ingest":
        app = create_ingest_app(settings)
        uvicorn.Server(server_config(app, settings)).run()
    elif role in ("relay", "retry", "notify"):
        # retry and notify open sealed secrets (Stripe keys, webhook secrets); the relay only moves events.
        settings.require("database_url", "kafka_bootstrap", *(("secret_key",) if role != "relay" else ()))
        asyncio.run(_serve_workers(role, settings))
    else:
        raise SystemExit(f"unknown role {role!r}")


async def _until_broker_answers(step: Callable[[], Awaitable[None]]) -> None:
    """Wait for the broker at start instead of exiting: a process (re)started while the broker
    restarts would otherwise die, as the chaos run found, and crash-loop until it is back."""
    delay = 0.5
    while True:
        try:
            await step()
            return
        except KafkaError as exc:
            log.warning("the broker does not answer yet; waiting", error=repr(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def _serve_workers(role: str, settings: SystemSettings) -> None:
    """Background workers plus a small HTTP server for probes and metrics; SIGTERM drains."""
    stop = asyncio.Event()
    bootstrap = settings.require_kafka_bootstrap()
    db = Database(settings.require_database_url())
    # Idempotent: creates only what is missing, with the intended partitions and replication.
    await _until_broker_answers(
        lambda: ensure_topics(
            bootstrap,
            topics_with_dlq(ALL_TOPICS),
            partitions=settings.kafka_topic_partitions,
            replication_factor=settings.kafka_replication_factor,
        )
    )
    producer = make_producer(
        bootstrap, enable_idempotence=settings.kafka_enable_idempotence, client_id=f"dunning-{role}"
    )
    await _until_broker_answers(producer.start)
    health = Health()
    health.add_check("database", db.ping)

    async def broker() -> None:
        await end_offsets(bootstrap, list(ALL_TOPICS[:1]))

    health.add_check("broker", broker)
    workers: list[Worker] = []
    routers: list[APIRouter] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    installs: list[Callable[[FastAPI], None]] = []
    if role == "relay":
        relay = OutboxRelay(
            db,
            producer,
            bootstrap,
            OUTBOX_SCHEMAS,
            RelayConfig(retention=timedelta(days=settings.outbox_retention_days)),
        )
        health.add_heartbeat(relay.heartbeat)
        workers.append(relay.run)
    elif role == "notify":
        pod = os.environ.get("POD_NAME")
        static = pod if settings.kafka_static_membership else None
        box = SecretBox(settings.require_secret_key())
        routers += tenancy_api.routers()
        installs.append(lambda app: tenancy_api.install(app, settings, box))
        consumer = notify.event_consumer(db, bootstrap, producer, group_instance_id=static)
        walker = notify.walker(settings, db)
        dispatcher, close_channels = notify.dispatcher(
            settings, db, box, worker_id=pod or f"notify-{os.getpid()}"
        )
        for part in (consumer, walker, dispatcher):
            health.add_heartbeat(part.heartbeat)
            workers.append(part.run)
        closers.append(close_channels)
        routers += notify.routers()
        installs.append(lambda app: notify.install(app, settings, box))
    else:
        # POD_NAME names the executor's claims; as a static group member id only when asked
        # (DUNNING_KAFKA_STATIC_MEMBERSHIP): a static member does not leave the group on stop.
        pod = os.environ.get("POD_NAME")
        static = pod if settings.kafka_static_membership else None
        retry_box = SecretBox(settings.require_secret_key())
        consumer = retry.case_consumer(db, bootstrap, producer, group_instance_id=static)
        health.add_heartbeat(consumer.heartbeat)
        executor, gateway = retry.attempt_executor(
            settings, db, retry_box, worker_id=pod or f"retry-{os.getpid()}"
        )
        health.add_heartbeat(executor.heartbeat)
        collector = retry.collections_worker(
            settings, db, retry_box, gateway, worker_id=pod or f"retry-{os.getpid()}"
        )
        health.add_heartbeat(collector.heartbeat)
        workers += [consumer.run, executor.run, collector.run]
        closers.append(gateway.close)
        routers += retry.routers()  # the service serves its own /v1 slice (DESIGN §7)
        # Every role that serves tenant-key routes serves the tenancy slice too (docs/api.md).
        routers += tenancy_api.routers()
        installs.append(lambda app: tenancy_api.install(app, settings, retry_box))
        installs.append(lambda app: retry.install(app, settings, retry_box))
    app = build_app(
        title=f"Dunning {role}", routers=routers, health=health, max_body_size=settings.api_max_body_bytes
    )
    app.state.db = db
    for install in installs:
        install(app)
    server = QuietServer(server_config(app, settings))
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(server.serve())
            await asyncio.gather(*(worker(stop) for worker in workers))
            server.should_exit = True
    finally:
        for close in closers:
            await close()
        await producer.stop()
        await db.dispose()
