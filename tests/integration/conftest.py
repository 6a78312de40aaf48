"""Integration fixtures: the HTTP app over ASGI, tenants, and a running outbox relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from tests.conftest import Infra
from tests.support.servers import serve_in_thread
from tests.support.stripe_fake import FakeStripe, create_app

from dunning.cli.settings import SystemSettings
from dunning.cli.system import OUTBOX_SCHEMAS, build_system_app
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.kafka import make_producer
from dunning.common.relay import OutboxRelay, RelayConfig
from dunning.common.tenancy.service import CreatedTenant, create_tenant


@pytest_asyncio.fixture
async def client(
    infra: Infra, clean_db: Database, box: SecretBox, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = SystemSettings(
        data_dir=tmp_path / "data",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
    )
    app = build_system_app(settings, clean_db, box, Health())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dunning.test") as http:
        yield http


async def make_tenant(db: Database, box: SecretBox, *, name: str = "Acme") -> CreatedTenant:
    async with db.unit_of_work() as uow:
        created = await create_tenant(uow.session, box, name)
        await uow.commit()
    return created


@pytest_asyncio.fixture
async def tenant(clean_db: Database, box: SecretBox) -> CreatedTenant:
    return await make_tenant(clean_db, box)


@pytest_asyncio.fixture
async def relay(infra: Infra, clean_db: Database) -> AsyncIterator[OutboxRelay]:
    """A relay publishing the ingest outbox in the background for the length of a test."""
    producer = make_producer(infra.bootstrap, enable_idempotence=False, client_id="test-relay")
    await producer.start()
    relay = OutboxRelay(clean_db, producer, infra.bootstrap, OUTBOX_SCHEMAS, RelayConfig(poll_interval=0.2))
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await producer.stop()


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[tuple[FakeStripe, str]]:
    """The Stripe fake on a real loopback socket, one per test module."""
    fake = FakeStripe()
    with serve_in_thread(create_app(fake)) as url:
        yield fake, url


@pytest.fixture
def fake(stripe_server: tuple[FakeStripe, str]) -> FakeStripe:
    stripe_server[0].reset()
    return stripe_server[0]
