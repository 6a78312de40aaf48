"""Shared fixtures: one real PostgreSQL and one real Kafka-protocol broker per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from sqlalchemy import text

from dunning.cli.system import MIGRATION_SETS
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.embedded import EmbeddedBroker, EmbeddedPostgres
from dunning.common.events.topics import ALL_TOPICS
from dunning.common.kafka import ensure_topics, topics_with_dlq
from dunning.common.migrations import upgrade

TEST_PARTITIONS = 3
# Every table a test may write; emptied before each test that asks for ``clean_db``.
_TABLES = (
    "ingest.webhook_events",
    "ingest.outbox",
    "ingest.outbox_watermarks",
    "retry.case_timeline",
    "retry.cases",
    "retry.inbox",
    "retry.outbox",
    "retry.outbox_watermarks",
    "retry.policies",
    "retry.attempts",
    "retry.idempotency_keys",
    "retry.instalments",
    "retry.plans",
    "retry.promises",
    "retry.customer_disputes",
    "retry.settlements",
    "retry.adjustments",
    "retry.case_notes",
    "retry.collections_policies",
    "notify.invoices",
    "notify.escalations",
    "notify.case_history",
    "notify.deliveries",
    "notify.contacts",
    "notify.opt_outs",
    "notify.policies",
    "notify.templates",
    "notify.endpoints",
    "notify.inbox",
    "notify.outbox",
    "notify.outbox_watermarks",
    "notify.idempotency_keys",
    "tenancy.idempotency_keys",
    "tenancy.webhook_secrets",
    "tenancy.processor_credentials",
    "tenancy.api_keys",
    "tenancy.tenants",
)


@dataclass(frozen=True)
class Infra:
    database_url: str
    bootstrap: str
    secret_key: str
    work_dir: Path


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    work_dir = tmp_path_factory.mktemp("infra")
    with (
        EmbeddedPostgres(work_dir / "postgres") as pg,
        EmbeddedBroker(log_path=work_dir / "broker.log") as broker,
    ):
        yield Infra(
            database_url=pg.start(),
            bootstrap=broker.start(),
            secret_key=Fernet.generate_key().decode(),
            work_dir=work_dir,
        )


@pytest_asyncio.fixture(scope="session")
async def db(infra: Infra) -> AsyncIterator[Database]:
    database = Database(infra.database_url)
    await upgrade(database, MIGRATION_SETS)
    await ensure_topics(infra.bootstrap, topics_with_dlq(ALL_TOPICS), partitions=TEST_PARTITIONS)
    yield database
    await database.dispose()


@pytest_asyncio.fixture
async def clean_db(db: Database) -> Database:
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY CASCADE"))
    return db


@pytest.fixture(scope="session")
def box(infra: Infra) -> SecretBox:
    return SecretBox(infra.secret_key)
