"""Every schema's Alembic history matches its table definitions and runs down and up again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection, make_url
from tests.conftest import Infra

from dunning.cli.system import MIGRATION_SETS
from dunning.common.db import Database
from dunning.common.migrations import downgrade, upgrade
from dunning.common.tenancy.tables import metadata as tenancy_metadata
from dunning.ingest.tables import metadata as ingest_metadata
from dunning.retry.tables import metadata as retry_metadata

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

METADATA: dict[str, MetaData] = {
    "tenancy": tenancy_metadata,
    "ingest": ingest_metadata,
    "retry": retry_metadata,
}


@pytest_asyncio.fixture
async def scratch_db(infra: Infra, db: Database) -> AsyncIterator[Database]:
    """A database of its own, so going down to nothing does not disturb other tests."""
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(infra.database_url).set(database=name).render_as_string(hide_password=False)
    scratch = Database(url)
    yield scratch
    await scratch.dispose()
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


def _diff(connection: Connection, schema: str) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": lambda name, type_, _parent: type_ != "schema" or name == schema,
            "compare_type": True,
        },
    )
    return [d for d in compare_metadata(context, METADATA[schema]) if "alembic_version" not in str(d)]


@pytest.mark.parametrize("schema", sorted(METADATA))
async def test_migrations_produce_exactly_the_declared_tables(db: Database, schema: str) -> None:
    async with db.engine.connect() as conn:
        differences = await conn.run_sync(_diff, schema)
    assert differences == [], f"{schema}: migrations and tables.py disagree: {differences}"


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema IN ('tenancy', 'ingest', 'retry') AND table_name <> 'alembic_version'"
            )
        )
        return {r[0] for r in rows}


async def test_upgrade_is_idempotent_and_downgrade_to_base_then_up_again_works(scratch_db: Database) -> None:
    await upgrade(scratch_db, MIGRATION_SETS)
    await upgrade(scratch_db, MIGRATION_SETS)  # a second replica starting: nothing to do, no error
    expected = {
        f"{s}.{t}" for s, md in METADATA.items() for t in (table.name for table in md.tables.values())
    }
    assert await tables(scratch_db) == expected

    await downgrade(scratch_db, MIGRATION_SETS)
    assert await tables(scratch_db) == set()

    await upgrade(scratch_db, MIGRATION_SETS)
    assert await tables(scratch_db) == expected
