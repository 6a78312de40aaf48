"""Charge attempts: the processor's failures and our planned, claimed and finished retries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "retry"


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("case_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.cases.id"), nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("attempt_no", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method_id", sa.Text),
        sa.Column("card_brand", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("success_probability", sa.Float),
        sa.Column("idempotency_key", sa.Text, unique=True),
        sa.Column("charge_ref", sa.Text),
        sa.Column("decline_code", sa.Text),
        sa.Column("failure_code", sa.Text),
        sa.Column("advice_code", sa.Text),
        sa.Column("network_advice_code", sa.Text),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("claimed_by", sa.Text),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("case_id", "attempt_no", name="uq_attempts_case_number"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_attempts_due",
        "attempts",
        ["due_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index("ix_attempts_charge_ref", "attempts", ["case_id", "charge_ref"], schema=SCHEMA)
    op.create_index("ix_attempts_tenant_due", "attempts", ["tenant_id", "due_at"], schema=SCHEMA)
    op.create_index("ix_attempts_method_due", "attempts", ["tenant_id", "method_id", "due_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("attempts", schema=SCHEMA)
