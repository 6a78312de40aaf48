"""The whole way through real PostgreSQL and the broker: a Stripe webhook becomes a dunning
case, and the case's story comes out on dunning.recovery-events.v1."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Infra
from tests.support.kafka import TopicTap
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers

from dunning.common.clock import SystemClock
from dunning.common.consumer import ConsumerConfig, EventConsumer
from dunning.common.db import Database
from dunning.common.events.envelope import decode_event
from dunning.common.events.topics import PAYMENT_EVENTS_TOPIC, RECOVERY_EVENTS_TOPIC
from dunning.common.kafka import make_producer
from dunning.common.tenancy.service import CreatedTenant
from dunning.retry.handlers import PaymentEventHandler
from dunning.retry.tables import SCHEMA, cases

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest.mark.usefixtures("relay")
async def test_webhook_to_case_to_recovery_events(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, infra: Infra
) -> None:
    producer = make_producer(infra.bootstrap, enable_idempotence=False, client_id="t")
    await producer.start()
    # A group of its own, so earlier tests' records (read from the start) do not wait in line
    # behind a shared group's offsets; they only create ledgers for other tenants.
    config = ConsumerConfig(
        name=f"retry-cases-{uuid.uuid4().hex[:6]}", topics=[PAYMENT_EVENTS_TOPIC], inbox_schema=SCHEMA
    )
    consumer = EventConsumer(clean_db, infra.bootstrap, config, PaymentEventHandler(SystemClock()), producer)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        async with TopicTap(infra.bootstrap, RECOVERY_EVENTS_TOPIC) as tap:
            failed = invoice_payment_failed(invoice_id="in_pipeline", amount=1999, currency="usd")
            paid = invoice_payment_failed(invoice_id="in_pipeline")
            paid["type"] = "invoice.paid"
            paid["data"]["object"] |= {"status": "paid", "amount_paid": 1999, "amount_remaining": 0}
            for event in (failed, failed, paid):  # Stripe redelivers: the second is a duplicate
                body = encode(event)
                response = await client.post(
                    f"/v1/webhooks/stripe/{tenant.tenant_id}",
                    content=body,
                    headers=signed_headers(body, tenant.stripe_webhook_secret),
                )
                assert response.status_code == 200
            records = await tap.read(at_least=2, timeout=40, settle=1.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await producer.stop()

    ours = [decode_event(r.value) for r in records if r.key == f"{tenant.tenant_id}:in_pipeline".encode()]
    assert [e.type for e in ours] == ["dunning.case.opened.v1", "dunning.case.recovered.v1"]
    assert ours[0].data["amount"] == 1999
    assert ours[0].data["currency"] == "USD"
    async with clean_db.engine.connect() as conn:
        case = (
            await conn.execute(
                select(cases).where(
                    cases.c.tenant_id == tenant.tenant_id, cases.c.invoice_id == "in_pipeline"
                )
            )
        ).one()
    assert (case.status, case.failures) == ("recovered", 1)
