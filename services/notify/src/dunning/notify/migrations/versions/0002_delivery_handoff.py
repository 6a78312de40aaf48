"""When a delivery's message passed its channel's point of no return (ADR 0007).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("handed_off_at", sa.DateTime(timezone=True)), schema="notify")


def downgrade() -> None:
    op.drop_column("deliveries", "handed_off_at", schema="notify")
