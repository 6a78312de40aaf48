"""``dunning run``: embedded PostgreSQL and broker (unless given real ones), migrations, topics,
the outbox relay and every service's HTTP slice on one port, in one process tree."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from dunning.cli.local_admin import LocalAdmin, ensure_local_admin_key
from dunning.cli.settings import SECRET_KEY_FILE, SystemSettings, runtime_path, write_runtime
from dunning.common.clock import SystemClock
from dunning.common.crypto import SecretBox, load_or_create_key
from dunning.common.db import Database
from dunning.common.events.topics import ALL_TOPICS
from dunning.common.health import Health
from dunning.common.http import build_app
from dunning.common.http_server import server_config
from dunning.common.kafka import end_offsets, ensure_topics, make_producer, topics_with_dlq
from dunning.common.migrations import MigrationSet, upgrade
from dunning.common.relay import OutboxRelay, RelayConfig
from dunning.common.tenancy import MIGRATIONS as TENANCY_MIGRATIONS
from dunning.common.tenancy import api as tenancy_api
from dunning.dashboard import mount as mount_dashboard
from dunning.ingest import app as ingest
from dunning.notify import app as notify
from dunning.retry import app as retry

log = structlog.get_logger(__name__)

# Order matters: tenancy first, then every service's own history.
MIGRATION_SETS: tuple[MigrationSet, ...] = (
    TENANCY_MIGRATIONS,
    ingest.MIGRATIONS,
    retry.MIGRATIONS,
    notify.MIGRATIONS,
)
OUTBOX_SCHEMAS: tuple[str, ...] = (ingest.OUTBOX_SCHEMA, retry.OUTBOX_SCHEMA, notify.OUTBOX_SCHEMA)


@dataclass
class Endpoints:
    database_url: str
    kafka_bootstrap: str
    secret_key: str
    embedded_parts: list[Any] = field(default_factory=list)


@contextlib.contextmanager
def infrastructure(settings: SystemSettings) -> Iterator[Endpoints]:
    """The database and broker: the configured ones, or embedded ones stopped on exit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret_key = (
        settings.secret_key.get_secret_value()
        if settings.secret_key
        else load_or_create_key(settings.data_dir / SECRET_KEY_FILE)
    )
    # Imported here: the embedded servers (about 115 MB of wheels) are for `dunning run` only;
    # the production image leaves them out and `serve` never needs them.
    from dunning.common.embedded import EmbeddedBroker, EmbeddedPostgres

    with contextlib.ExitStack() as stack:
        parts: list[Any] = []
        database_url = settings.database_url
        if database_url is None:
            pg = stack.enter_context(EmbeddedPostgres(settings.data_dir / "postgres"))
            database_url = pg.start()
            parts.append(pg)
        bootstrap = settings.kafka_bootstrap
        if bootstrap is None:
            broker = stack.enter_context(EmbeddedBroker(log_path=settings.data_dir / "broker.log"))
            bootstrap = broker.start()
            parts.append(broker)
        yield Endpoints(database_url, bootstrap, secret_key, parts)


class QuietServer(uvicorn.Server):
    """Uvicorn without its own signal handling: the runner owns SIGINT/SIGTERM for the whole tree."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def prepare(settings: SystemSettings, endpoints: Endpoints) -> Database:
    db = Database(endpoints.database_url)
    await upgrade(db, MIGRATION_SETS)
    await ensure_topics(
        endpoints.kafka_bootstrap,
        topics_with_dlq(ALL_TOPICS),
        partitions=settings.kafka_topic_partitions,
        replication_factor=settings.kafka_replication_factor,
    )
    return db


def build_system_app(settings: SystemSettings, db: Database, box: SecretBox, health: Health) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_app(
        title="Dunning",
        routers=[*tenancy_api.routers(), *ingest.routers(), *retry.routers(), *notify.routers()],
        health=health,
        lifespan=lifespan,
        max_body_size=settings.api_max_body_bytes,
    )
    app.state.db = db
    tenancy_api.install(app, settings, box)
    ingest.install(app, settings, db, box, SystemClock())
    notify.install(app, settings, box)
    retry.install(app, settings, box)
    mount_dashboard(app)
    return app


async def serve(settings: SystemSettings, endpoints: Endpoints) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    db = await prepare(settings, endpoints)
    box = SecretBox(endpoints.secret_key)
    local_admin = await ensure_local_admin_key(db, box, settings.data_dir)
    health = Health()
    health.add_check("database", db.ping)

    async def broker_ready() -> None:
        await end_offsets(endpoints.kafka_bootstrap, list(ALL_TOPICS[:1]))

    health.add_check("broker", broker_ready)
    producer = make_producer(
        endpoints.kafka_bootstrap,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="dunning-relay",
    )
    await producer.start()
    relay = OutboxRelay(
        db,
        producer,
        endpoints.kafka_bootstrap,
        OUTBOX_SCHEMAS,
        RelayConfig(retention=timedelta(days=settings.outbox_retention_days)),
    )
    health.add_heartbeat(relay.heartbeat)
    janitor = ingest.raw_body_janitor(settings, db)
    health.add_heartbeat(janitor.heartbeat)
    cases = retry.case_consumer(db, endpoints.kafka_bootstrap, producer)
    health.add_heartbeat(cases.heartbeat)
    executor, gateway = retry.attempt_executor(settings, db, box, worker_id=f"run-{os.getpid()}")
    health.add_heartbeat(executor.heartbeat)
    collector = retry.collections_worker(settings, db, box, gateway, worker_id=f"run-{os.getpid()}")
    health.add_heartbeat(collector.heartbeat)
    notify_consumer = notify.event_consumer(db, endpoints.kafka_bootstrap, producer)
    health.add_heartbeat(notify_consumer.heartbeat)
    walker = notify.walker(settings, db)
    health.add_heartbeat(walker.heartbeat)
    dispatcher, close_channels = notify.dispatcher(settings, db, box, worker_id=f"run-{os.getpid()}")
    health.add_heartbeat(dispatcher.heartbeat)
    app = build_system_app(settings, db, box, health)
    server = QuietServer(server_config(app, settings, lifespan="on", timeout_graceful_shutdown=20))

    def request_stop() -> None:
        if stop.is_set():
            server.force_exit = True
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)

    http_url = f"http://{settings.http_host}:{settings.http_port}"
    try:
        async with asyncio.TaskGroup() as group:
            relay_task = group.create_task(relay.run(stop))
            janitor_task = group.create_task(janitor.run(stop))
            cases_task = group.create_task(cases.run(stop))
            executor_task = group.create_task(executor.run(stop))
            collections_task = group.create_task(collector.run(stop))
            notify_tasks = [
                group.create_task(worker.run(stop)) for worker in (notify_consumer, walker, dispatcher)
            ]
            server_task = group.create_task(server.serve())
            while not server.started and not server_task.done():
                await asyncio.sleep(0.05)
            if server.started:
                write_runtime(
                    settings.data_dir,
                    {
                        "http_url": http_url,
                        "database_url": endpoints.database_url,
                        "kafka_bootstrap": endpoints.kafka_bootstrap,
                        "pid": os.getpid(),
                        "started_at": datetime.now(UTC).isoformat(),
                    },
                )
                print_welcome(settings, http_url, local_admin)
            await server_task
            stop.set()
            await relay_task
            await janitor_task
            await cases_task
            await executor_task
            await collections_task
            for task in notify_tasks:
                await task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        runtime_path(settings.data_dir).unlink(missing_ok=True)
        await gateway.close()
        await close_channels()
        await producer.stop()
        await db.dispose()


def print_welcome(settings: SystemSettings, http_url: str, local_admin: LocalAdmin | None = None) -> None:
    lines = [
        "",
        f"Dunning is running at {http_url}  (data: {settings.data_dir.resolve()})",
        f"  health   {http_url}/healthz   ready {http_url}/readyz   metrics {http_url}/metrics",
        f"  API docs {http_url}/docs   (OpenAPI: {http_url}/openapi.json)",
        "",
    ]
    if local_admin is not None and local_admin.tenant_id is not None:
        key_file = local_admin.path.resolve()
        made = "created now" if local_admin.created else "created at the first start"
        auth = f'-H "Authorization: Bearer $(cat {key_file})"'
        lines += [
            f"Local tenant {local_admin.tenant_id} ({made}); its admin API key is in {key_file}",
            f"  curl {auth} {http_url}/v1/tenant",
            "",
            "Next steps:",
            "  1. Point Stripe at it:  stripe listen --forward-to "
            + f"{http_url}/v1/webhooks/stripe/{local_admin.tenant_id}",
            "     and add the signing secret it prints:",
            f"       curl {auth} -H 'Content-Type: application/json' \\",
            f'         -d \'{{"secret": "whsec_..."}}\' {http_url}/v1/webhook-secrets',
            "  2. More tenants (in another terminal):  .venv/bin/dunning tenants create 'Acme' --json",
        ]
    else:
        if local_admin is not None:
            lines.append(f"The API key in {local_admin.path.resolve()} is revoked: it no longer works.")
        webhook = f"{http_url}/v1/webhooks/stripe/<tenant_id>"
        lines += [
            "Next steps:",
            "  1. Create a tenant (in another terminal):  .venv/bin/dunning tenants create 'Acme' --json",
            "  2. Point Stripe at it:  stripe listen --forward-to " + webhook,
            "     and add the signing secret it prints:",
            "       .venv/bin/dunning tenants secrets add <tenant_id> --secret whsec_...",
        ]
    lines += ["Stop with Ctrl-C.", ""]
    print("\n".join(lines), flush=True)  # noqa: T201 - the runner's greeting is for a person


def run(settings: SystemSettings) -> None:
    with infrastructure(settings) as endpoints:
        settings = settings.model_copy(update={"secret_key": SecretStr(endpoints.secret_key)})
        asyncio.run(serve(settings, endpoints))
