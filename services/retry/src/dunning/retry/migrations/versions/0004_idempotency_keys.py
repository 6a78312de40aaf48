"""Idempotency keys of the case actions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from dunning.common.idempotency import create_idempotency_v1

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_v1(op, "retry")


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="retry")
