"""Notify on real PostgreSQL with a real SMTP server and a Twilio-shaped SMS sink: the consumer's
handler, the walker and the dispatcher driven step by step on a clock the test moves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select, text
from tests.support.servers import serve_in_thread
from tests.support.sms_sink import SmsSink
from tests.support.sms_sink import create_app as create_sms_app
from tests.support.smtp_server import SmtpServer

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.clock import FixedClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent, decode_event, make_event
from dunning.common.events.payment import InvoicePaymentData, PaymentEventType
from dunning.common.events.recovery import CaseEventData, RecoveryEventType
from dunning.common.health import Health
from dunning.notify import repository
from dunning.notify.app import dispatcher as make_dispatcher
from dunning.notify.app import walker as make_walker
from dunning.notify.dispatcher import DeliveryDispatcher
from dunning.notify.handlers import NotifyEventHandler
from dunning.notify.tables import deliveries
from dunning.notify.walker import EscalationWalker

# A Monday, 10:00 in New York: inside every sending window.
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def sms_server() -> Iterator[tuple[SmsSink, str]]:
    sink = SmsSink()
    with serve_in_thread(create_sms_app(sink)) as url:
        yield sink, url


@dataclass
class NotifyWorld:
    db: Database
    clock: FixedClock
    handler: NotifyEventHandler
    walker: EscalationWalker
    dispatcher: DeliveryDispatcher
    smtp: SmtpServer
    sms: SmsSink
    settings: SystemSettings
    box: SecretBox
    tenant_id: str = field(default_factory=lambda: f"ten_{uuid.uuid4().hex[:8]}")

    async def feed(self, *events: CloudEvent) -> None:
        for event in events:
            async with self.db.unit_of_work() as uow:
                await self.handler(uow.session, event)
                await uow.commit()

    async def run(self) -> None:
        """One round of the walker, then the dispatcher until nothing is due."""
        await self.walker.walk_due()
        while await self.dispatcher.send_due():
            pass

    async def deliveries(self, **where: Any) -> list[Any]:
        query = select(deliveries).where(deliveries.c.tenant_id == self.tenant_id)
        for name, value in where.items():
            query = query.where(deliveries.c[name] == value)
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(query.order_by(deliveries.c.created_at))).mappings())

    async def outbox(self) -> list[CloudEvent]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT value FROM notify.outbox ORDER BY id"))
            return [decode_event(bytes(r.value)) for r in rows]

    def payment_failed(self, invoice_id: str, **overrides: Any) -> CloudEvent:
        values: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "provider": "stripe",
            "provider_event_id": f"evt_{uuid.uuid4().hex[:12]}",
            "provider_event_type": "invoice.payment_failed",
            "livemode": False,
            "occurred_at": self.clock.now(),
            "customer_id": "cus_1",
            "invoice_id": invoice_id,
            "invoice_number": "INV-0042",
            "customer_email": "jo@example.com",
            "customer_name": "Jo Doe",
            "customer_country": "US",
            "customer_region": "NY",
            "amount": 4900,
            "amount_due": 4900,
            "currency": "USD",
            "hosted_invoice_url": "https://pay.example.com/i/1",
            "decline_code": "insufficient_funds",
        }
        values.update(overrides)
        data = InvoicePaymentData(**values)
        return make_event(
            event_id=str(uuid.uuid4()),
            source="/test",
            type=PaymentEventType.PAYMENT_FAILED.cloudevents_type,
            subject=f"{self.tenant_id}:{invoice_id}",
            time=self.clock.now(),
            tenant_id=self.tenant_id,
            data=data,
        )

    def case_event(
        self, kind: RecoveryEventType, case_id: str, invoice_id: str, **overrides: Any
    ) -> CloudEvent:
        status = {
            RecoveryEventType.CASE_RECOVERED: "recovered",
            RecoveryEventType.CASE_PAUSED: "paused",
            RecoveryEventType.CASE_DISPUTED: "paused",
            RecoveryEventType.CASE_CLOSED: "closed",
            RecoveryEventType.CASE_WRITTEN_OFF: "written_off",
        }.get(kind, "open")
        values: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "case_id": case_id,
            "invoice_id": invoice_id,
            "customer_id": "cus_1",
            "status": status,
            "note": kind.value,
            "amount": 4900,
            "currency": "USD",
            "failures": 1,
            "hosted_invoice_url": "https://pay.example.com/i/1",
            "customer_email": "jo@example.com",
            "customer_name": "Jo Doe",
            "opened_at": START,
            "occurred_at": self.clock.now(),
            "cause_event_id": f"cause-{uuid.uuid4().hex[:8]}",
            "cause_type": "payment.failed",
        }
        values.update(overrides)
        return make_event(
            event_id=str(uuid.uuid4()),
            source="/dunning/retry",
            type=kind.cloudevents_type,
            subject=f"{self.tenant_id}:{invoice_id}",
            time=self.clock.now(),
            tenant_id=self.tenant_id,
            data=CaseEventData(**values),
        )

    async def open_case(
        self, invoice_id: str = "in_1", *, payment: dict[str, Any] | None = None, **overrides: Any
    ) -> str:
        case_id = f"case_{uuid.uuid4().hex[:10]}"
        await self.feed(
            self.payment_failed(invoice_id, **(payment or {})),
            self.case_event(RecoveryEventType.CASE_OPENED, case_id, invoice_id, **overrides),
        )
        return case_id

    async def set_contact(self, customer_id: str = "cus_1", **override: Any) -> None:
        async with self.db.unit_of_work() as uow:
            await repository.replace_override(
                uow.session, tenant_id=self.tenant_id, customer_id=customer_id, override=override
            )
            await uow.commit()


def notify_settings(
    tmp_path: Path, infra_secret: str, smtp: SmtpServer, sms: tuple[SmsSink, str]
) -> SystemSettings:
    sink, url = sms
    return SystemSettings(
        data_dir=tmp_path / "data",
        secret_key=SecretStr(infra_secret),
        smtp_url=SecretStr(smtp.url()),
        sms_api_base=url,
        sms_account_sid=sink.account_sid,
        sms_auth_token=SecretStr(sink.auth_token),
        sms_from="+15005550006",
        public_url="https://dunning.example.com",
    )


@pytest_asyncio.fixture
async def world(
    clean_db: Database,
    box: SecretBox,
    infra: Any,
    tmp_path: Path,
    smtp: SmtpServer,
    sms_server: tuple[SmsSink, str],
) -> AsyncIterator[NotifyWorld]:
    smtp.reset()
    sms_server[0].reset()
    clock = FixedClock(START)
    settings = notify_settings(tmp_path, infra.secret_key, smtp, sms_server)
    dispatcher, close = make_dispatcher(settings, clean_db, box, worker_id="test-worker", clock=clock)
    yield NotifyWorld(
        db=clean_db,
        clock=clock,
        handler=NotifyEventHandler(clock),
        walker=make_walker(settings, clean_db, clock=clock),
        dispatcher=dispatcher,
        smtp=smtp,
        sms=sms_server[0],
        settings=settings,
        box=box,
    )
    await close()


@pytest_asyncio.fixture
async def http(world: NotifyWorld) -> AsyncIterator[httpx.AsyncClient]:
    """The system's HTTP app over ASGI, on the world's clock and settings."""
    app = build_system_app(world.settings, world.db, world.box, Health())
    app.state.clock = world.clock
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://dunning.example.com") as client:
        yield client
