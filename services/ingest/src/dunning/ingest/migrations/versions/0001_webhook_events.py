"""Webhook events and the ingest outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dunning.common.outbox import create_outbox_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("provider_event_id", sa.Text, nullable=False),
        sa.Column("provider_event_type", sa.Text, nullable=False),
        sa.Column("provider_account", sa.Text),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("ignored_reason", sa.Text),
        sa.Column("canonical_types", sa.Text, nullable=False, server_default=""),
        sa.Column("raw_body", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "provider", "provider_event_id", name="uq_webhook_events_provider_event"
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at"], schema=SCHEMA)
    create_outbox_v1(op, SCHEMA)


def downgrade() -> None:
    op.drop_table("outbox_watermarks", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_table("webhook_events", schema=SCHEMA)
