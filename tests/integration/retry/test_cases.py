"""Payment events become dunning cases: opened, recovered, closed, paused; late, duplicated and
out-of-order facts change nothing they should not; bad events are refused for the DLQ."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dunning.common.clock import FixedClock
from dunning.common.consumer import PermanentFailure
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent, decode_event
from dunning.retry.collections import service
from dunning.retry.handlers import PaymentEventHandler
from dunning.retry.tables import cases, outbox, timeline

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TENANT = "ten_cases"


def payment_event(
    kind: str, *, invoice_id: str = "in_1", minutes: int = 0, tenant_id: str = TENANT, **data: Any
) -> CloudEvent:
    occurred = T0 + timedelta(minutes=minutes)
    body: dict[str, Any] = {
        "tenant_id": tenant_id,
        "provider": "stripe",
        "provider_event_id": f"evt_{uuid.uuid4().hex[:10]}",
        "provider_event_type": "x",
        "livemode": False,
        "occurred_at": occurred.isoformat(),
        "customer_id": "cus_1",
    }
    if kind.startswith(("payment.", "invoice.")):
        body |= {"invoice_id": invoice_id, "amount": 4500, "amount_due": 4500, "currency": "EUR"}
    elif kind.startswith("dispute."):
        body |= {
            "dispute_id": "dp_1",
            "invoice_id": invoice_id,
            "amount": 4500,
            "currency": "EUR",
            "status": "needs_response",
        }
    elif kind == "subscription.canceled":
        body |= {"subscription_id": "sub_1", "status": "canceled", "latest_invoice_id": invoice_id}
    body |= data
    return CloudEvent(
        id=str(uuid.uuid4()),
        source="/test",
        type=f"dunning.{kind}.v1",
        subject=f"{tenant_id}:{invoice_id}",
        time=occurred,
        tenantid=tenant_id,
        data=body,
    )


async def deliver(db: Database, *events: CloudEvent, now: datetime | None = None) -> None:
    handler = PaymentEventHandler(FixedClock(now or T0 + timedelta(hours=1)))
    for event in events:
        async with db.unit_of_work() as uow:
            await handler(uow.session, event)
            await uow.commit()


async def the_case(db: Database, invoice_id: str = "in_1") -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(cases).where(cases.c.invoice_id == invoice_id))).one()


async def published(db: Database) -> list[CloudEvent]:
    async with db.engine.connect() as conn:
        values = (await conn.execute(select(outbox.c.value).order_by(outbox.c.id))).scalars().all()
    return [decode_event(v) for v in values]


async def test_a_failure_opens_a_case_and_the_payment_recovers_it(clean_db: Database) -> None:
    await deliver(
        clean_db,
        payment_event(
            "payment.failed",
            decline_code="insufficient_funds",
            payment_method_id="pm_1",
            hosted_invoice_url="https://pay/in_1",
            customer_email="a@example.com",
        ),
        payment_event(
            "payment.failed", minutes=60, decline_code="do_not_honor", amount=4000, amount_due=4500
        ),
        payment_event("invoice.paid", minutes=120, amount=4000),
    )
    case = await the_case(clean_db)
    assert (case.status, case.failures, case.resolution) == ("recovered", 2, "paid")
    assert (case.amount, case.currency, case.decline_code) == (4000, "EUR", "do_not_honor")
    assert case.opened_at == T0
    events = await published(clean_db)
    assert [e.type for e in events] == ["dunning.case.opened.v1", "dunning.case.recovered.v1"]
    opened, recovered = events
    assert opened.subject == f"{TENANT}:in_1"
    assert opened.data["case_id"] == case.id
    assert opened.data["hosted_invoice_url"] == "https://pay/in_1"
    assert opened.data["decline_code"] == "insufficient_funds"
    assert recovered.data["status"] == "recovered"
    async with clean_db.engine.connect() as conn:
        notes = (await conn.execute(select(timeline.c.note).order_by(timeline.c.at))).scalars().all()
    assert notes == ["payment failed: dunning case opened", "another failed payment", "the invoice was paid"]


async def test_payment_reported_before_the_failure_opens_nothing(clean_db: Database) -> None:
    await deliver(
        clean_db, payment_event("invoice.paid", minutes=30), payment_event("payment.failed", minutes=0)
    )
    case = await the_case(clean_db)
    assert (case.status, case.resolution) == ("none", "paid")
    assert await published(clean_db) == []


async def test_a_failure_after_the_payment_does_not_reopen_the_case(clean_db: Database) -> None:
    # Exact redeliveries are dropped by the consumer's inbox (tests/integration/test_consumer.py);
    # a different, later-reported failure of a paid invoice must not reopen it either.
    failed = payment_event("payment.failed")
    await deliver(
        clean_db, failed, payment_event("invoice.paid", minutes=5), payment_event("payment.failed", minutes=9)
    )
    assert [e.type for e in await published(clean_db)] == [
        "dunning.case.opened.v1",
        "dunning.case.recovered.v1",
    ]


@pytest.mark.parametrize(
    ("closing", "resolution"),
    [
        ("invoice.voided", "voided"),
        ("invoice.uncollectible", "uncollectible"),
        ("subscription.canceled", "subscription_canceled"),
    ],
)
async def test_closing_facts_close_the_case(clean_db: Database, closing: str, resolution: str) -> None:
    await deliver(clean_db, payment_event("payment.failed"), payment_event(closing, minutes=10))
    case = await the_case(clean_db)
    assert (case.status, case.resolution) == ("closed", resolution)
    assert [e.type for e in await published(clean_db)][-1] == "dunning.case.closed.v1"


async def test_a_dispute_pauses_and_a_won_dispute_resumes(clean_db: Database) -> None:
    await deliver(
        clean_db,
        payment_event("payment.failed"),
        payment_event("dispute.opened", minutes=5),
        payment_event("dispute.closed", minutes=50, status="won"),
    )
    case = await the_case(clean_db)
    assert (case.status, case.pause_reasons) == ("open", [])
    assert [e.type for e in await published(clean_db)] == [
        "dunning.case.opened.v1",
        "dunning.case.disputed.v1",
        "dunning.case.paused.v1",
        "dunning.case.resumed.v1",
    ]


async def test_events_without_an_invoice_touch_no_case(clean_db: Database) -> None:
    method_changed = payment_event("payment_method.updated", change="attached", payment_method_id="pm_2")
    await deliver(clean_db, method_changed)
    async with clean_db.engine.connect() as conn:
        assert (await conn.execute(select(cases))).all() == []


@pytest.mark.parametrize(
    "bad",
    [
        lambda: payment_event("payment.failed", amount=-5),  # breaks the schema
        # data and envelope disagree on the tenant
        lambda: payment_event("payment.failed").model_copy(update={"tenantid": "ten_other"}),
    ],
)
async def test_events_that_cannot_be_right_are_refused_for_the_dlq_and_change_nothing(
    clean_db: Database, bad: Any
) -> None:
    with pytest.raises(PermanentFailure):
        await deliver(clean_db, bad())
    async with clean_db.engine.connect() as conn:
        assert (await conn.execute(select(cases))).all() == []
    assert await published(clean_db) == []


async def test_unknown_future_event_types_are_skipped(clean_db: Database) -> None:
    event = payment_event("payment.failed").model_copy(update={"type": "dunning.payment.refunded.v1"})
    await deliver(clean_db, event)
    async with clean_db.engine.connect() as conn:
        assert (await conn.execute(select(cases))).all() == []


async def test_the_invoice_number_and_due_date_reach_the_customers_self_service_view(
    clean_db: Database,
) -> None:
    """The page tells the customer which invoice this is and when it was due, in their zone."""
    due = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # already 1 April in Tokyo
    await deliver(
        clean_db,
        payment_event(
            "payment.failed", invoice_number="INV-0042", due_date=due.isoformat(), customer_country="JP"
        ),
    )
    async with clean_db.unit_of_work() as uow:
        [case_id] = (await uow.session.execute(select(cases.c.id))).scalars().all()
        view = await service.self_service_view(uow.session, tenant_id=TENANT, case_id=case_id, now=T0)
    assert view is not None
    assert (view.invoice_number, view.due_date) == ("INV-0042", due.date() + timedelta(days=1))
