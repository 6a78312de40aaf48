"""The inbox: one row per (consumer, event id), written in the same transaction as the effect."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.migrations import check_schema_name


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", Text, primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def claim_event(session: AsyncSession, schema: str, consumer: str, event_id: str) -> bool:
    """True the first time ``consumer`` sees ``event_id``; False for any redelivery.

    A concurrent second delivery blocks on the unique key until the first transaction ends,
    then gets False if it committed, so the effect runs at most once.
    """
    result = await session.execute(
        text(
            f"INSERT INTO {check_schema_name(schema)}.inbox (consumer, event_id) "
            "VALUES (:consumer, :event_id) ON CONFLICT DO NOTHING RETURNING 1"
        ),
        {"consumer": consumer, "event_id": event_id},
    )
    return result.first() is not None


async def prune_inbox(session: AsyncSession, schema: str, consumer: str, older_than: timedelta) -> int:
    """Forget events applied longer ago than any redelivery can come; how many rows went."""
    result = await session.execute(
        text(
            f"DELETE FROM {check_schema_name(schema)}.inbox WHERE consumer = :consumer "
            "AND processed_at < now() - make_interval(secs => :secs)"
        ),
        {"consumer": consumer, "secs": older_than.total_seconds()},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def create_inbox_v1(op: Any, schema: str) -> None:
    """Migration step (frozen): the inbox table as ``inbox_table`` had it in v1."""
    import sqlalchemy as sa

    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
