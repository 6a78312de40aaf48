"""Tasks due for people: promise dates, instalments, disputes awaiting an answer, settlements
awaiting approval — one list in due order, keyset-paginated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.retry.collections.domain import DISPUTE_ANSWER_DAYS
from dunning.retry.tables import SCHEMA

TASK_KINDS = ("promise_due", "instalment_due", "dispute_awaiting_answer", "settlement_awaiting_approval")

_TASKS = f"""
SELECT 'promise_due' AS kind, p.id AS object_id, p.case_id, p.check_at AS due_at,
       'promised to pay by ' || p.pay_by AS note
  FROM {SCHEMA}.promises p WHERE p.tenant_id = :tenant AND p.status IN ('active', 'claimed')
UNION ALL
SELECT 'instalment_due', i.id, i.case_id, i.due_at,
       'instalment ' || i.number || ': ' || i.amount || ' ' || i.currency || ' due ' || i.due_on
  FROM {SCHEMA}.instalments i WHERE i.tenant_id = :tenant AND i.status IN ('scheduled', 'claimed')
UNION ALL
SELECT 'dispute_awaiting_answer', d.id, d.case_id, d.opened_at + make_interval(days => {DISPUTE_ANSWER_DAYS}),
       'customer dispute: ' || d.reason
  FROM {SCHEMA}.customer_disputes d WHERE d.tenant_id = :tenant AND d.status = 'open'
UNION ALL
SELECT 'settlement_awaiting_approval', s.id, s.case_id, s.created_at,
       'settlement of ' || s.amount || ' ' || s.currency || ' awaiting approval'
  FROM {SCHEMA}.settlements s WHERE s.tenant_id = :tenant AND s.status = 'pending_approval'
"""


async def list_tasks(
    session: AsyncSession,
    *,
    tenant_id: str,
    kind: str | None,
    due_before: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Any]:
    """Oldest due first; ``after`` is the (due_at, object_id) of the last task of the previous page."""
    where = ["TRUE"]
    params: dict[str, Any] = {"tenant": tenant_id, "n": limit}
    if kind is not None:
        where.append("kind = :kind")
        params["kind"] = kind
    if due_before is not None:
        where.append("due_at < :due_before")
        params["due_before"] = due_before
    if after is not None:
        where.append("(due_at, object_id) > (:after_at, :after_id)")
        params |= {"after_at": after[0], "after_id": after[1]}
    query = text(
        f"SELECT * FROM ({_TASKS}) AS t WHERE {' AND '.join(where)} ORDER BY due_at, object_id LIMIT :n"
    )
    return list((await session.execute(query, params)).all())
