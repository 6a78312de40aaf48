"""The invoice's number and due date on the case, for the customer's self-service page.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("invoice_number", sa.Text), schema="retry")
    op.add_column("cases", sa.Column("due_date", sa.DateTime(timezone=True)), schema="retry")


def downgrade() -> None:
    op.drop_column("cases", "due_date", schema="retry")
    op.drop_column("cases", "invoice_number", schema="retry")
