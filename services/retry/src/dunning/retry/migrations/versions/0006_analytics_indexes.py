"""Indexes for recovery analytics and the case export: a tenant's cases by opening time, and
each case's sent messages in time order (the last one before a recovery).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_tenant_opened", "cases", ["tenant_id", "opened_at"], schema="retry")
    op.create_index(
        "ix_case_timeline_sent",
        "case_timeline",
        ["case_id", "at"],
        schema="retry",
        postgresql_where=sa.text("type = 'notification.sent'"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_timeline_sent", table_name="case_timeline", schema="retry")
    op.drop_index("ix_cases_tenant_opened", table_name="cases", schema="retry")
