"""Processor API credentials per tenant (sealed).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "tenancy"


def upgrade() -> None:
    op.create_table(
        "processor_credentials",
        sa.Column("tenant_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.tenants.id"), primary_key=True),
        sa.Column("provider", sa.Text, primary_key=True),
        sa.Column("sealed_api_key", sa.LargeBinary, nullable=False),
        sa.Column("livemode", sa.Boolean, nullable=False),
        sa.Column("key_hint", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("processor_credentials", schema=SCHEMA)
