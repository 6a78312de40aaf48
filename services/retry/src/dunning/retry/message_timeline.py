"""Notification events → the case timeline: every message sent, failed or suppressed (with its
reason), each escalation level and the collections hand-off appear beside attempts and facts."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.consumer import PermanentFailure
from dunning.common.events.envelope import CloudEvent
from dunning.common.events.notification import DATA_MODELS, NotificationEventType
from dunning.retry import repository

log = structlog.get_logger(__name__)

# What the timeline keeps of a message: enough to read the story, no recipient address.
_KEPT = (
    "delivery_id",
    "level",
    "level_name",
    "template",
    "channel",
    "locale",
    "subject",
    "attempts",
    "reason_code",
)


def notification_kind(event_type: str) -> NotificationEventType | None:
    name = event_type.removeprefix("dunning.").rsplit(".v", 1)[0]
    try:
        return NotificationEventType(name)
    except ValueError:
        return None


async def record(session: AsyncSession, event: CloudEvent, kind: NotificationEventType) -> None:
    try:
        data: Any = DATA_MODELS[kind].model_validate(event.data)
    except ValidationError as exc:
        raise PermanentFailure(f"{event.type} {event.id} does not match its schema: {exc}") from exc
    if data.tenant_id != event.tenantid:
        raise PermanentFailure(f"{event.id}: data.tenant_id {data.tenant_id} != tenantid {event.tenantid}")
    if data.case_id is None:
        return  # pre-dunning notices and opt-outs belong to a customer, not a case
    case = await repository.get_case(session, tenant_id=data.tenant_id, case_id=data.case_id)
    if case is None:
        log.info("notification for an unknown case", case=data.case_id, event_id=event.id)
        return
    await repository.add_to_timeline(
        session,
        case_id=data.case_id,
        tenant_id=data.tenant_id,
        at=data.occurred_at,
        kind="message",
        type=kind.value,
        note=_note(kind, data),
        cause_event_id=event.id,
        data={k: v for k, v in event.data.items() if k in _KEPT},
    )


def _note(kind: NotificationEventType, data: Any) -> str:
    if kind is NotificationEventType.NOTIFICATION_SENT:
        return f"{data.template} sent by {data.channel}"
    if kind is NotificationEventType.NOTIFICATION_SUPPRESSED:
        return f"{data.template} by {data.channel} not sent: {data.reason}"
    if kind is NotificationEventType.NOTIFICATION_FAILED:
        return f"{data.template} by {data.channel} failed: {data.reason}"
    if kind is NotificationEventType.COLLECTIONS_HANDED_OFF:
        return f"handed to collections ({data.agency_delivery})"
    if kind is NotificationEventType.ESCALATION_LEVEL_CHANGED:
        return str(data.note)
    return kind.value
