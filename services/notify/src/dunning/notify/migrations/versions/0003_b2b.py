"""The B2B track (issue 9, ADR 0010): per-customer payment terms and extra contacts, the demand
letter timer of each b2b case, and the letters' PDFs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "b2b_customers",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("payment_terms_days", sa.Integer),
        sa.Column("contacts", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="notify",
    )
    op.create_table(
        "letter_timers",
        sa.Column("case_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text),
        sa.Column("invoice_id", sa.Text, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("thresholds", ARRAY(sa.Integer), nullable=False),
        sa.Column("fired", ARRAY(sa.Integer), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("next_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="notify",
    )
    op.create_index(
        "ix_letter_timers_due",
        "letter_timers",
        ["next_at"],
        schema="notify",
        postgresql_where=sa.text("next_at IS NOT NULL"),
    )
    op.create_table(
        "letters",
        sa.Column("delivery_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="notify",
    )


def downgrade() -> None:
    op.drop_table("letters", schema="notify")
    op.drop_index("ix_letter_timers_due", table_name="letter_timers", schema="notify")
    op.drop_table("letter_timers", schema="notify")
    op.drop_table("b2b_customers", schema="notify")
