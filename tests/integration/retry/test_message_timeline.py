"""Notification events land on the case timeline: messages sent and suppressed with their
reasons, beside the facts; events for unknown cases or another tenant's case change nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.integration.retry.test_cases import T0, TENANT, deliver, payment_event, the_case

from dunning.common.consumer import PermanentFailure
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent
from dunning.retry.tables import timeline

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def notification(kind: str, case_id: str, *, tenant_id: str = TENANT, **data: Any) -> CloudEvent:
    body: dict[str, Any] = {
        "tenant_id": tenant_id,
        "case_id": case_id,
        "invoice_id": "in_1",
        "customer_id": "cus_1",
        "occurred_at": (T0 + timedelta(hours=2)).isoformat(),
        "delivery_id": "d1",
        "delivery_key": f"{tenant_id}:{case_id}:0:email",
        "level": 0,
        "level_name": "friendly",
        "template": "friendly",
        "channel": "email",
        "address": "j***@example.com",
        "attempts": 1,
    } | data
    return CloudEvent(
        id=str(uuid.uuid4()),
        source="/dunning/notify",
        type=f"dunning.{kind}.v1",
        subject=f"{tenant_id}:in_1",
        time=T0,
        tenantid=tenant_id,
        data=body,
    )


async def test_messages_appear_on_the_case_timeline(clean_db: Database) -> None:
    await deliver(clean_db, payment_event("payment.failed", decline_code="insufficient_funds"))
    case = await the_case(clean_db)
    await deliver(
        clean_db,
        notification("notification.sent", case.id),
        notification(
            "notification.suppressed",
            case.id,
            channel="sms",
            delivery_key=f"{TENANT}:{case.id}:0:sms",
            reason="***0100 opted out of sms messages",
            reason_code="opted_out_address",
        ),
        notification("notification.sent", "case_unknown"),
    )
    async with clean_db.engine.connect() as conn:
        rows = (
            await conn.execute(select(timeline).where(timeline.c.kind == "message").order_by(timeline.c.id))
        ).all()
    assert [(r.type, r.note) for r in rows] == [
        ("notification.sent", "friendly sent by email"),
        ("notification.suppressed", "friendly by sms not sent: ***0100 opted out of sms messages"),
    ]
    assert rows[1].data["reason_code"] == "opted_out_address"
    assert "address" not in rows[0].data  # not even masked: the timeline needs no recipient


async def test_a_notification_naming_another_tenant_is_refused(clean_db: Database) -> None:
    await deliver(clean_db, payment_event("payment.failed"))
    case = await the_case(clean_db)
    forged = notification("notification.sent", case.id)
    forged = forged.model_copy(update={"tenantid": "ten_other"})
    with pytest.raises(PermanentFailure, match="tenantid"):
        await deliver(clean_db, forged)
    other = notification("notification.sent", case.id, tenant_id="ten_other")
    await deliver(clean_db, other)  # its own tenant has no such case: nothing recorded
    async with clean_db.engine.connect() as conn:
        count = len((await conn.execute(select(timeline).where(timeline.c.kind == "message"))).all())
    assert count == 0
