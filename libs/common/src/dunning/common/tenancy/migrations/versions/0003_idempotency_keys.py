"""Idempotency keys of the tenancy slice's POST actions (API keys, webhook secrets, tenants).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

from dunning.common.idempotency import create_idempotency_v1

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "tenancy"


def upgrade() -> None:
    create_idempotency_v1(op, SCHEMA)


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema=SCHEMA)
