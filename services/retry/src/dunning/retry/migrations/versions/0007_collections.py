"""Collections with people in the loop: collections policy, promises to pay, payment plans and
instalments, customer disputes, settlements, adjustments (write-offs with reasons), case notes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "retry"


def _at(name: str, *, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _case() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("case_id", sa.Text, sa.ForeignKey("retry.cases.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "collections_policies",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S,
    )
    op.create_table(
        "promises",
        sa.Column("id", sa.Text, primary_key=True),
        _case(),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("pay_by", sa.Date, nullable=False),
        _at("check_at", nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("actor", sa.Text),
        _at("created_at", nullable=False),
        _at("resolved_at"),
        _at("claimed_at"),
        sa.Column("claimed_by", sa.Text),
        schema=S,
    )
    op.create_index(
        "ix_promises_due", "promises", ["check_at"], schema=S, postgresql_where=sa.text("status = 'active'")
    )
    op.create_index("ix_promises_case", "promises", ["case_id"], schema=S)
    op.create_index(
        "ix_promises_claimed",
        "promises",
        ["claimed_at"],
        schema=S,
        postgresql_where=sa.text("status = 'claimed'"),
    )
    op.create_index(
        "uq_promises_active_case",
        "promises",
        ["case_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status IN ('active', 'claimed')"),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Text, primary_key=True),
        _case(),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("instalments", sa.Integer, nullable=False),
        sa.Column("settlement_id", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("actor", sa.Text),
        _at("created_at", nullable=False),
        _at("ended_at"),
        sa.Column("note", sa.Text),
        schema=S,
    )
    op.create_index("ix_plans_case", "plans", ["case_id"], schema=S)
    op.create_index(
        "uq_plans_active_case",
        "plans",
        ["case_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "instalments",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("plan_id", sa.Text, sa.ForeignKey("retry.plans.id"), nullable=False),
        _case(),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        _at("due_at", nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("payment_intent_id", sa.Text),
        sa.Column("decline_code", sa.Text),
        sa.Column("failure_code", sa.Text),
        _at("claimed_at"),
        sa.Column("claimed_by", sa.Text),
        _at("paid_at"),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("plan_id", "number", name="uq_instalments_plan_number"),
        schema=S,
    )
    op.create_index(
        "ix_instalments_due",
        "instalments",
        ["due_at"],
        schema=S,
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index("ix_instalments_case", "instalments", ["case_id"], schema=S)
    op.create_index(
        "ix_instalments_claimed",
        "instalments",
        ["claimed_at"],
        schema=S,
        postgresql_where=sa.text("status = 'claimed'"),
    )
    op.create_table(
        "customer_disputes",
        sa.Column("id", sa.Text, primary_key=True),
        _case(),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("details", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("actor", sa.Text),
        _at("opened_at", nullable=False),
        _at("resolved_at"),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolution_note", sa.Text),
        schema=S,
    )
    op.create_index("ix_customer_disputes_case", "customer_disputes", ["case_id"], schema=S)
    op.create_index(
        "uq_customer_disputes_open_case",
        "customer_disputes",
        ["case_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "settlements",
        sa.Column("id", sa.Text, primary_key=True),
        _case(),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("original_amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("proposed_by", sa.Text, nullable=False),
        sa.Column("decided_by", sa.Text),
        sa.Column("decision_note", sa.Text),
        _at("created_at", nullable=False),
        _at("decided_at"),
        schema=S,
    )
    op.create_index("ix_settlements_case", "settlements", ["case_id"], schema=S)
    op.create_index("ix_settlements_tenant_created", "settlements", ["tenant_id", "created_at"], schema=S)
    op.create_table(
        "adjustments",
        sa.Column("id", sa.Text, primary_key=True),
        _case(),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("original_amount", sa.BigInteger),
        sa.Column("collected", sa.BigInteger, nullable=False),
        sa.Column("written_off", sa.BigInteger),
        sa.Column("currency", sa.Text),
        sa.Column("settlement_id", sa.Text),
        sa.Column("approved_by", sa.Text),
        sa.Column("actor", sa.Text),
        _at("at", nullable=False),
        schema=S,
    )
    op.create_index("ix_adjustments_tenant_at", "adjustments", ["tenant_id", "at"], schema=S)
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Text, primary_key=True),
        _case(),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        _at("created_at", nullable=False),
        schema=S,
    )
    op.create_index("ix_case_notes_case_created", "case_notes", ["case_id", "created_at"], schema=S)


def downgrade() -> None:
    for table in (
        "case_notes",
        "adjustments",
        "settlements",
        "customer_disputes",
        "instalments",
        "plans",
        "promises",
        "collections_policies",
    ):
        op.drop_table(table, schema=S)
