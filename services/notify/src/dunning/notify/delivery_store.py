"""SQL for delivery rows: one per message (``case:level:channel``), claimed like a durable timer.

A delivery is ``scheduled`` until a worker claims it (``sending``), then ends ``sent``,
``failed``, ``suppressed`` or ``canceled``; ``held`` while its case is paused. A claim older than
the TTL belongs to a worker that died mid-send and is taken again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.notify.tables import SCHEMA, deliveries, letters

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


async def take_back_expired(session: AsyncSession, *, now: datetime, ttl: timedelta) -> list[RowMapping]:
    """Claims older than ``ttl`` belong to workers that went away: what they had not handed over
    goes back to ``scheduled``; what they had handed over counts as sent (ADR 0007), and those
    rows are returned so their ``notification.sent`` can be told."""
    expired = and_(deliveries.c.status == "sending", deliveries.c.claimed_at < now - ttl)
    await session.execute(
        update(deliveries)
        .where(expired, deliveries.c.handed_off_at.is_(None))
        .values(status="scheduled", claimed_by=None, note="taken again: the worker that claimed it went away")
    )
    result = await session.execute(
        update(deliveries)
        .where(expired, deliveries.c.handed_off_at.is_not(None))
        .values(
            status="sent",
            sent_at=deliveries.c.handed_off_at,
            claimed_by=None,
            updated_at=func.now(),
            note="sent: the worker stopped after handing the message over, so it is not sent again",
        )
        .returning(*deliveries.c)
    )
    return list(result.mappings())


async def claim_due(
    session: AsyncSession, *, now: datetime, worker: str, batch: int, ttl: timedelta
) -> tuple[list[RowMapping], list[RowMapping]]:
    """Due deliveries claimed for ``worker``, and the expired claims that count as sent."""
    handed_off = await take_back_expired(session, now=now, ttl=ttl)
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
    return [row._mapping for row in result], handed_off


async def lock_claimed(
    session: AsyncSession, delivery_id: str, worker: str, *, now: datetime
) -> RowMapping | None:
    """The delivery, locked, if this worker still holds the claim; the claim is renewed.

    Renewing here, right before the message is handed to its channel, makes the claim TTL
    count from this check instead of from the batch's claim: a worker slowed down by a busy
    machine (a batch, enrichment, rendering) is not taken over while it is about to send, which
    sent the same message twice in the chaos run.
    """
    row = await session.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.status == "sending",
            deliveries.c.claimed_by == worker,
        )
        .values(claimed_at=now)
        .returning(*deliveries.c)
    )
    return row.mappings().first()


async def hand_off(session: AsyncSession, delivery_id: str, worker: str, *, now: datetime) -> bool:
    """Record that the message is past its channel's point of no return, if ``worker`` still
    holds the claim (the claim is renewed too). False: the claim is gone; do not send."""
    result = await session.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.status == "sending",
            deliveries.c.claimed_by == worker,
        )
        .values(handed_off_at=now, claimed_at=now)
        .returning(deliveries.c.id)
    )
    return result.first() is not None


async def finish(
    session: AsyncSession, delivery_id: str, *, status: str, worker: str | None = None, **values: Any
) -> bool:
    """Settle the delivery; with ``worker``, only while that worker still holds the claim."""
    where = [deliveries.c.id == delivery_id]
    if worker is not None:
        where += [deliveries.c.status == "sending", deliveries.c.claimed_by == worker]
    result = await session.execute(
        update(deliveries)
        .where(*where)
        .values(status=status, claimed_by=None, updated_at=func.now(), **values)
        .returning(deliveries.c.id)
    )
    return result.first() is not None


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
            handed_off_at=None,
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


async def store_letter(session: AsyncSession, delivery: Any, pdf: bytes) -> None:
    """The PDF a demand letter carries; a resend's (identical) letter replaces it."""
    statement = insert(letters).values(delivery_id=delivery["id"], tenant_id=delivery["tenant_id"], pdf=pdf)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["delivery_id"], set_={"pdf": statement.excluded.pdf})
    )


async def letter_pdf(session: AsyncSession, tenant_id: str, delivery_id: str) -> bytes | None:
    found = await session.scalar(
        select(letters.c.pdf).where(letters.c.tenant_id == tenant_id, letters.c.delivery_id == delivery_id)
    )
    return bytes(found) if found is not None else None


async def get(session: AsyncSession, delivery_id: str) -> RowMapping | None:
    row = await session.execute(select(deliveries).where(deliveries.c.id == delivery_id))
    return row.mappings().first()
