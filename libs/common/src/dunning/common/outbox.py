"""The transactional outbox: an event is written in the same transaction as the state it reports.

A relay (``dunning.common.relay``) publishes unsent rows; sent rows are kept for the retention
period so they can be published again if the broker loses them (DESIGN §2).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.envelope import CONTENT_TYPE, CloudEvent, encode_event
from dunning.common.migrations import check_schema_name

NOTIFY_CHANNEL = "dunning_outbox"


def outbox_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The outbox and the relay's per-partition watermarks, in ``metadata``'s schema."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", Text, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True)),
        Column("publish_attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
        Index("ix_outbox_created_at", "created_at"),
    )
    watermarks = Table(
        "outbox_watermarks",
        metadata,
        Column("topic", Text, primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("high_offset", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return outbox, watermarks


async def enqueue(session: AsyncSession, schema: str, topic: str, event: CloudEvent) -> bool:
    """Stage ``event`` for publication in the caller's transaction. False if already staged.

    ``pg_notify`` is transactional: the relay is woken only when (and if) the caller commits.
    """
    name = check_schema_name(schema)
    # pg_notify in RETURNING: one round trip stages the row and queues the wake-up, which
    # PostgreSQL delivers only when (and if) the transaction commits.
    result = await session.execute(
        text(
            f"INSERT INTO {name}.outbox (event_id, topic, key, value, headers) "
            "VALUES (:event_id, :topic, :key, :value, CAST(:headers AS jsonb)) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING pg_notify(:channel, :schema)"
        ),
        {
            "event_id": event.id,
            "topic": topic,
            "key": event.subject,
            "value": encode_event(event),
            "headers": json.dumps({"content-type": CONTENT_TYPE, "ce_type": event.type}),
            "channel": NOTIFY_CHANNEL,
            "schema": name,
        },
    )
    staged = result.first() is not None
    return staged


def create_outbox_v1(op: Any, schema: str) -> None:
    """Migration step (frozen): the outbox and watermark tables, as ``outbox_tables`` had them in v1."""
    import sqlalchemy as sa

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("publish_attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        schema=schema,
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        schema=schema,
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"], schema=schema)
    op.create_table(
        "outbox_watermarks",
        sa.Column("topic", sa.Text, primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("high_offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
