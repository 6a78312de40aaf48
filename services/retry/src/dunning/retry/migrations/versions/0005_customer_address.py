"""The customer's billing country and region on the case (their time zone comes from it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("customer_country", sa.Text), schema="retry")
    op.add_column("cases", sa.Column("customer_region", sa.Text), schema="retry")


def downgrade() -> None:
    op.drop_column("cases", "customer_region", schema="retry")
    op.drop_column("cases", "customer_country", schema="retry")
