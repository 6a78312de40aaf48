"""Dunning cases, their timeline, inbox and outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from dunning.common.inbox import create_inbox_v1
from dunning.common.outbox import create_outbox_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "retry"


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("invoice_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text),
        sa.Column("subscription_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True)),
        sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("pause_reasons", sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("resolution", sa.Text),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("last_fact_at", sa.DateTime(timezone=True)),
        sa.Column("amount", sa.BigInteger),
        sa.Column("currency", sa.Text),
        sa.Column("decline_code", sa.Text),
        sa.Column("payment_method_id", sa.Text),
        sa.Column("hosted_invoice_url", sa.Text),
        sa.Column("customer_email", sa.Text),
        sa.Column("customer_name", sa.Text),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("provider_account", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("tenant_id", "invoice_id", name="uq_cases_tenant_invoice"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_cases_tenant_status_opened", "cases", ["tenant_id", "status", "opened_at"], schema=SCHEMA
    )
    op.create_index("ix_cases_tenant_customer", "cases", ["tenant_id", "customer_id"], schema=SCHEMA)
    op.create_table(
        "case_timeline",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("case_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.cases.id"), nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("cause_event_id", sa.Text),
        sa.Column("data", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema=SCHEMA,
    )
    op.create_index("ix_case_timeline_case_at", "case_timeline", ["case_id", "at"], schema=SCHEMA)
    create_inbox_v1(op, SCHEMA)
    create_outbox_v1(op, SCHEMA)


def downgrade() -> None:
    op.drop_table("outbox_watermarks", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_table("inbox", schema=SCHEMA)
    op.drop_table("case_timeline", schema=SCHEMA)
    op.drop_table("cases", schema=SCHEMA)
