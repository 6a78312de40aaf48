"""Cases for the self-service page tests: a real payment.failed through the retry service's own
handler (so the case is what production would hold), and the link a message would carry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from dunning.common.clock import FixedClock
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent, make_event
from dunning.common.events.payment import InvoicePaymentData, PaymentEventType
from dunning.retry.handlers import PaymentEventHandler
from dunning.retry.tables import cases


def payment_failed(tenant_id: str, invoice_id: str, at: datetime, **overrides: Any) -> CloudEvent:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "provider": "stripe",
        "provider_event_id": f"evt_{uuid.uuid4().hex[:12]}",
        "provider_event_type": "invoice.payment_failed",
        "livemode": False,
        "occurred_at": at,
        "customer_id": "cus_1",
        "invoice_id": invoice_id,
        "invoice_number": "INV-0042",
        "customer_email": "jo@example.com",
        "customer_name": "Jo Doe",
        "customer_country": "US",
        "customer_region": "NY",
        "amount": 4500,
        "amount_due": 4500,
        "currency": "EUR",
        "hosted_invoice_url": "https://invoice.stripe.test/i/1",
        "decline_code": "insufficient_funds",
        "payment_method_id": f"pm_{invoice_id}",
    }
    values.update(overrides)
    return make_event(
        event_id=str(uuid.uuid4()),
        source="/test",
        type=PaymentEventType.PAYMENT_FAILED.cloudevents_type,
        subject=f"{tenant_id}:{invoice_id}",
        time=at,
        tenant_id=tenant_id,
        data=InvoicePaymentData(**values),
    )


async def open_case(db: Database, tenant_id: str, invoice_id: str, at: datetime, **overrides: Any) -> str:
    """A dunning case opened by a failed payment, as the retry service opens it; its id."""
    async with db.unit_of_work() as uow:
        await PaymentEventHandler(FixedClock(at))(
            uow.session, payment_failed(tenant_id, invoice_id, at, **overrides)
        )
        await uow.commit()
    async with db.engine.connect() as conn:
        found = await conn.scalar(
            select(cases.c.id).where(cases.c.tenant_id == tenant_id, cases.c.invoice_id == invoice_id)
        )
    assert found is not None
    return str(found)


async def case_row(db: Database, case_id: str) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(cases).where(cases.c.id == case_id))).mappings().one()


async def count_rows(db: Database, table: Any, case_id: str) -> int:
    async with db.engine.connect() as conn:
        return int(
            await conn.scalar(select(func.count()).select_from(table).where(table.c.case_id == case_id)) or 0
        )
