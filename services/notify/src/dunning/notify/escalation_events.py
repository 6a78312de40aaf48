"""``dunning.notification-events.v1`` events, staged in notify's outbox in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.events.envelope import deterministic_event_id, make_event
from dunning.common.events.notification import (
    HandedOffData,
    LevelChangedData,
    NotificationData,
    NotificationEventType,
    OptedOutData,
)
from dunning.common.events.topics import NOTIFICATION_EVENTS_TOPIC
from dunning.common.outbox import enqueue
from dunning.notify.tables import SCHEMA

SOURCE = "/dunning/notify"


def mask_address(address: str | None) -> str | None:
    """Enough to recognise an address in a timeline, not enough to harvest it."""
    if not address:
        return None
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"***{address[-4:]}" if len(address) > 4 else "***"


def _subject(tenant_id: str, invoice_id: str | None, customer_id: str | None) -> str:
    if invoice_id:
        return f"{tenant_id}:{invoice_id}"
    if customer_id:
        return f"{tenant_id}:customer:{customer_id}"
    return f"{tenant_id}:notify"


async def _stage(
    session: AsyncSession,
    kind: NotificationEventType,
    body: BaseModel,
    *,
    tenant_id: str,
    invoice_id: str | None,
    customer_id: str | None,
    at: datetime,
    id_parts: tuple[str, ...],
) -> None:
    event = make_event(
        event_id=deterministic_event_id(tenant_id, kind.value, *id_parts),
        source=SOURCE,
        type=kind.cloudevents_type,
        subject=_subject(tenant_id, invoice_id, customer_id),
        time=at,
        tenant_id=tenant_id,
        data=body,
    )
    await enqueue(session, SCHEMA, NOTIFICATION_EVENTS_TOPIC, event)


async def level_changed(
    session: AsyncSession,
    *,
    tenant_id: str,
    case_id: str,
    invoice_id: str,
    customer_id: str | None,
    level: int | None,
    level_name: str | None,
    previous: int | None,
    status: str,
    note: str,
    next_due_at: datetime | None,
    at: datetime,
    cause: str,
) -> None:
    body = LevelChangedData(
        tenant_id=tenant_id,
        case_id=case_id,
        invoice_id=invoice_id,
        customer_id=customer_id,
        occurred_at=at,
        level=level,
        level_name=level_name,
        previous_level=previous,
        status=status,
        note=note,
        next_level_due_at=next_due_at,
    )
    await _stage(
        session,
        NotificationEventType.ESCALATION_LEVEL_CHANGED,
        body,
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        customer_id=customer_id,
        at=at,
        id_parts=(case_id, status, str(level), cause),
    )


async def delivery_outcome(
    session: AsyncSession, kind: NotificationEventType, delivery: Any, *, at: datetime, **fields: Any
) -> None:
    """notification.sent / failed / suppressed for a delivery row (a mapping) and what came of it."""
    merged = {**dict(delivery), **fields}
    body = NotificationData(
        tenant_id=merged["tenant_id"],
        case_id=merged.get("case_id"),
        invoice_id=merged.get("invoice_id"),
        customer_id=merged.get("customer_id"),
        occurred_at=at,
        delivery_id=merged["id"],
        delivery_key=merged["key"],
        level=merged.get("level"),
        level_name=merged.get("level_name"),
        template=merged["template"],
        channel=merged["channel"],
        locale=merged.get("locale"),
        address=mask_address(merged.get("address")),
        subject=merged.get("subject"),
        attempts=merged.get("attempts") or 0,
        provider_message_id=merged.get("provider_message_id"),
        reason=merged.get("note") if kind is not NotificationEventType.NOTIFICATION_SENT else None,
        reason_code=merged.get("reason_code"),
    )
    await _stage(
        session,
        kind,
        body,
        tenant_id=merged["tenant_id"],
        invoice_id=merged.get("invoice_id"),
        customer_id=merged.get("customer_id"),
        at=at,
        id_parts=(merged["key"],),
    )


async def handed_off(session: AsyncSession, body: HandedOffData, *, case_id: str) -> None:
    await _stage(
        session,
        NotificationEventType.COLLECTIONS_HANDED_OFF,
        body,
        tenant_id=body.tenant_id,
        invoice_id=body.invoice_id,
        customer_id=body.customer_id,
        at=body.occurred_at,
        id_parts=(case_id,),
    )


async def opted_out(session: AsyncSession, body: OptedOutData, *, address: str) -> None:
    await _stage(
        session,
        NotificationEventType.CUSTOMER_OPTED_OUT,
        body,
        tenant_id=body.tenant_id,
        invoice_id=None,
        customer_id=body.customer_id,
        at=body.occurred_at,
        id_parts=(body.channel, address, str(body.opted_in), body.occurred_at.isoformat()),
    )
