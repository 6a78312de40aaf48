"""The whole way through real PostgreSQL, the broker and an SMTP server: a Stripe webhook
becomes a case (retry), the case's events reach notify, and the friendly email arrives within
seconds. A restarted notify — consumer re-reading the topics, fresh workers — sends nothing twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from tests.conftest import Infra
from tests.support.smtp_server import SmtpServer
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers

from dunning.cli.settings import SystemSettings
from dunning.common.clock import SystemClock
from dunning.common.consumer import ConsumerConfig, EventConsumer
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.topics import PAYMENT_EVENTS_TOPIC, RECOVERY_EVENTS_TOPIC
from dunning.common.kafka import make_producer
from dunning.common.tenancy.service import CreatedTenant
from dunning.notify import app as notify
from dunning.notify.handlers import NotifyEventHandler
from dunning.notify.tables import SCHEMA as NOTIFY_SCHEMA
from dunning.retry.handlers import PaymentEventHandler
from dunning.retry.tables import SCHEMA as RETRY_SCHEMA

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def _notify_once(
    db: Database, infra: Infra, box: SecretBox, settings: SystemSettings, group: str, until: float
) -> None:
    """One notify process: the consumer, walker and dispatcher until ``until`` (monotonic)."""
    producer = make_producer(infra.bootstrap, enable_idempotence=False, client_id="t-notify")
    await producer.start()
    consumer = EventConsumer(
        db,
        infra.bootstrap,
        ConsumerConfig(
            name=group, topics=[PAYMENT_EVENTS_TOPIC, RECOVERY_EVENTS_TOPIC], inbox_schema=NOTIFY_SCHEMA
        ),
        NotifyEventHandler(SystemClock()),
        producer,
    )
    walker = notify.walker(settings, db)
    dispatcher, close = notify.dispatcher(settings, db, box, worker_id=f"w-{uuid.uuid4().hex[:4]}")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(part.run(stop)) for part in (consumer, walker, dispatcher)]
    try:
        while time.monotonic() < until and not stop.is_set():
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await close()
        await producer.stop()


@pytest.mark.usefixtures("relay")
async def test_webhook_to_friendly_email_and_a_restart_sends_nothing_twice(
    client: httpx.AsyncClient,
    tenant: CreatedTenant,
    clean_db: Database,
    infra: Infra,
    box: SecretBox,
    tmp_path: Path,
) -> None:
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    policy = (await client.get("/v1/escalation-policy", headers=headers)).json()
    # Whatever hour this test runs at, the sending window is open (a first-party tenant may say so).
    policy["compliance"] = {"regime": "first_party", "window_start": "00:00", "window_end": "23:59"}
    assert (await client.put("/v1/escalation-policy", json=policy, headers=headers)).status_code == 200

    producer = make_producer(infra.bootstrap, enable_idempotence=False, client_id="t-retry")
    await producer.start()
    retry_consumer = EventConsumer(
        clean_db,
        infra.bootstrap,
        ConsumerConfig(
            name=f"retry-{uuid.uuid4().hex[:6]}", topics=[PAYMENT_EVENTS_TOPIC], inbox_schema=RETRY_SCHEMA
        ),
        PaymentEventHandler(SystemClock()),
        producer,
    )
    stop_retry = asyncio.Event()
    retry_task = asyncio.create_task(retry_consumer.run(stop_retry))
    group = f"notify-{uuid.uuid4().hex[:6]}"
    with SmtpServer() as smtp:
        settings = SystemSettings(
            data_dir=tmp_path,
            secret_key=SecretStr(infra.secret_key),
            smtp_url=SecretStr(smtp.url()),
            public_url="https://dunning.example.com",
            notify_poll_seconds=0.2,
        )
        try:
            failed = encode(invoice_payment_failed(invoice_id="in_mail", amount=2500, currency="eur"))
            started = time.monotonic()
            sent = await client.post(
                f"/v1/webhooks/stripe/{tenant.tenant_id}",
                content=failed,
                headers=signed_headers(failed, tenant.stripe_webhook_secret),
            )
            assert sent.status_code == 200
            notifier = asyncio.create_task(
                _notify_once(clean_db, infra, box, settings, group, until=time.monotonic() + 60)
            )
            [mail] = await asyncio.to_thread(smtp.wait_for, 1, 55.0)
            elapsed = time.monotonic() - started
            notifier.cancel()
            await asyncio.gather(notifier, return_exceptions=True)
            assert mail.rcpt_tos == ("jenny@example.com",)
            text = mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            assert "€25.00" in text
            print(f"webhook → friendly email in {elapsed:.1f} s")  # noqa: T201 - a figure worth seeing in -s runs

            # Stripe redelivers the same webhook, and notify restarts: the consumer reads both
            # topics again from its committed offsets, fresh workers walk and dispatch.
            again = await client.post(
                f"/v1/webhooks/stripe/{tenant.tenant_id}",
                content=failed,
                headers=signed_headers(failed, tenant.stripe_webhook_secret),
            )
            assert again.status_code == 200
            await _notify_once(clean_db, infra, box, settings, group, until=time.monotonic() + 8)
            assert len(smtp.messages) == 1
        finally:
            stop_retry.set()
            await asyncio.wait_for(retry_task, 20)
            await producer.stop()
