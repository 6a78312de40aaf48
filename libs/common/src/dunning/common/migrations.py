"""Per-service Alembic histories, each in its own PostgreSQL schema, run programmatically.

Every service (and the tenancy kit) keeps ``migrations/`` inside its package with an
``env.py`` that calls :func:`run_env`. ``upgrade`` runs them in order on one connection under
an advisory lock, so several replicas (or a Job and a replica) starting at once are safe.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from dunning.common.db import Database, async_url

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_LOCK = 0x64756E6E  # "dunn": one key for every schema; migrations are rare and short


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


@dataclass(frozen=True, slots=True)
class MigrationSet:
    """One Alembic history: its schema and where its scripts live (``package:folder``)."""

    schema: str
    script_location: str

    def config(self, url: str | None = None) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", self.script_location)
        cfg.set_main_option("dunning_schema", check_schema_name(self.schema))
        if url is not None:
            cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
        return cfg


def run_env(metadata: MetaData, schema: str) -> None:
    """The body of every ``env.py``: migrate ``schema`` on the shared connection, or connect."""
    config = context.config
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection, metadata, schema)
        return

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection to migrate")

    async def _online() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        async with engine.begin() as conn:
            await conn.run_sync(_run, metadata, schema)
        await engine.dispose()

    asyncio.run(_online())


def _run(connection: Connection, metadata: MetaData, schema: str) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{check_schema_name(schema)}"'))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(db: Database, sets: Sequence[MigrationSet], revision: str = "head") -> None:
    """Bring every schema in ``sets`` to ``revision``, in order, in one transaction."""
    async with db.engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        for migration_set in sets:
            cfg = migration_set.config()
            await conn.run_sync(_upgrade_on, cfg, revision)


async def downgrade(db: Database, sets: Sequence[MigrationSet], revision: str = "base") -> None:
    """Take every schema in ``sets`` down to ``revision``, in reverse order (operators' escape hatch)."""
    async with db.engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        for migration_set in reversed(sets):
            await conn.run_sync(_downgrade_on, migration_set.config(), revision)


def _upgrade_on(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade_on(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)
