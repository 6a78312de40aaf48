"""SQL for delivery rows: one per message (``case:level:channel``), claimed like a durable timer.

A delivery is ``scheduled`` until a worker claims it (``sending``), then ends ``sent``,
``failed``, ``suppressed`` or ``canceled``; ``held`` while its case is paused. A claim older than
the TTL belongs to a worker that died mid-send and is taken again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.notify.tables import SCHEMA, deliveries

OPEN_STATES = ("scheduled", "held")


def delivery_key(tenant_id: str, case_id: str, level: int, channel: str) -> str:
    return f"{tenant_id}:{case_id}:{level}:{channel}"


async def schedule(
    session: AsyncSession,
    *,
    tenant_id: str,
    key: str,
    template: str,
    channel: str,
    due_at: datetime,
    case_id: str | None = None,
    invoice_id: str | None = None,
    customer_id: str | None = None,
    level: int | None = None,
    level_name: str | None = None,
    note: str | None = None,
    facts: dict[str, Any] | None = None,
) -> str | None:
    """A new delivery row; None when the key exists (that message is already planned or gone)."""
    delivery_id = str(uuid.uuid4())
    result = await session.execute(
        insert(deliveries)
        .values(
            id=delivery_id,
            tenant_id=tenant_id,
            key=key,
            case_id=case_id,
            invoice_id=invoice_id,
            customer_id=customer_id,
            level=level,
            level_name=level_name,
            template=template,
            channel=channel,
            status="scheduled",
            due_at=due_at,
            next_attempt_at=due_at,
            note=note,
            facts=facts or {},
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(deliveries.c.id)
    )
    return delivery_id if result.first() is not None else None


async def claim_due(
    session: AsyncSession, *, now: datetime, worker: str, batch: int, ttl: timedelta
) -> list[RowMapping]:
    await session.execute(
        update(deliveries)
        .where(deliveries.c.status == "sending", deliveries.c.claimed_at < now - ttl)
        .values(status="scheduled", claimed_by=None, note="taken again: the worker that claimed it went away")
    )
    result = await session.execute(
        text(
            f"UPDATE {SCHEMA}.deliveries SET status = 'sending', claimed_at = :now, claimed_by = :me, "
            "attempts = attempts + 1, updated_at = now() "
            f"WHERE id IN (SELECT id FROM {SCHEMA}.deliveries WHERE status = 'scheduled' "
            "AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :n FOR UPDATE SKIP LOCKED) "
            "RETURNING *"
        ),
        {"now": now, "me": worker, "n": batch},
    )
    return [row._mapping for row in result]


async def lock_claimed(session: AsyncSession, delivery_id: str, worker: str) -> RowMapping | None:
    """The delivery, locked, if this worker still holds the claim."""
    row = await session.execute(
        select(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.status == "sending",
            deliveries.c.claimed_by == worker,
        )
        .with_for_update()
    )
    return row.mappings().first()


async def finish(session: AsyncSession, delivery_id: str, *, status: str, **values: Any) -> None:
    await session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(status=status, claimed_by=None, updated_at=func.now(), **values)
    )


async def store_content(session: AsyncSession, delivery_id: str, **values: Any) -> None:
    """What is about to go out (address, locale, rendered text), kept for the timeline."""
    await session.execute(
        update(deliveries).where(deliveries.c.id == delivery_id).values(updated_at=func.now(), **values)
    )


async def reschedule(
    session: AsyncSession, delivery_id: str, *, at: datetime, note: str, **values: Any
) -> None:
    await session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            status="scheduled",
            next_attempt_at=at,
            note=note,
            claimed_by=None,
            updated_at=func.now(),
            **values,
        )
    )


async def hold_case(session: AsyncSession, case_id: str, note: str) -> int:
    result = await session.execute(
        update(deliveries)
        .where(deliveries.c.case_id == case_id, deliveries.c.status == "scheduled")
        .values(status="held", note=note, updated_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def release_case(session: AsyncSession, case_id: str, *, at: datetime, note: str) -> int:
    result = await session.execute(
        update(deliveries)
        .where(deliveries.c.case_id == case_id, deliveries.c.status == "held")
        .values(
            status="scheduled", next_attempt_at=func.greatest(deliveries.c.next_attempt_at, at), note=note
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def cancel_case(session: AsyncSession, case_id: str, note: str) -> int:
    result = await session.execute(
        update(deliveries)
        .where(deliveries.c.case_id == case_id, deliveries.c.status.in_(OPEN_STATES))
        .values(status="canceled", note=note, updated_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def contact_history(
    session: AsyncSession, *, tenant_id: str, case_id: str | None, since: datetime
) -> list[RowMapping]:
    """Messages that reached the customer about this debt since ``since`` (for contact caps)."""
    if case_id is None:
        return []
    rows = await session.execute(
        select(deliveries.c.channel, deliveries.c.sent_at, deliveries.c.level).where(
            deliveries.c.tenant_id == tenant_id,
            deliveries.c.case_id == case_id,
            deliveries.c.status == "sent",
            deliveries.c.sent_at >= since,
        )
    )
    return list(rows.mappings())


async def first_notice_sent_at(
    session: AsyncSession, *, tenant_id: str, case_id: str | None
) -> datetime | None:
    """When the case's first level first reached the customer (the validation notice), however long ago."""
    if case_id is None:
        return None
    found: datetime | None = await session.scalar(
        select(func.min(deliveries.c.sent_at)).where(
            deliveries.c.tenant_id == tenant_id,
            deliveries.c.case_id == case_id,
            deliveries.c.level == 0,
            deliveries.c.channel.in_(("email", "sms")),
            deliveries.c.status == "sent",
        )
    )
    return found


async def of_case(session: AsyncSession, tenant_id: str, case_id: str) -> list[RowMapping]:
    rows = await session.execute(
        select(deliveries)
        .where(deliveries.c.tenant_id == tenant_id, deliveries.c.case_id == case_id)
        .order_by(deliveries.c.created_at, deliveries.c.id)
    )
    return list(rows.mappings())


async def get(session: AsyncSession, delivery_id: str) -> RowMapping | None:
    row = await session.execute(select(deliveries).where(deliveries.c.id == delivery_id))
    return row.mappings().first()
