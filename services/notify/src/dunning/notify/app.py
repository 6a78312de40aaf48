"""The notify service's parts for a process to run: migrations, outbox, the event consumer,
the escalation walker and the delivery dispatcher, and its HTTP slice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI

from dunning.common.clock import Clock, SystemClock
from dunning.common.consumer import ConsumerConfig, EventConsumer
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.topics import PAYMENT_EVENTS_TOPIC, RECOVERY_EVENTS_TOPIC
from dunning.common.migrations import MigrationSet
from dunning.common.selfservice_link import SelfServiceLinks
from dunning.notify.api import mail_folder, public_router
from dunning.notify.api import routers as api_routers
from dunning.notify.b2b_api import b2b_router
from dunning.notify.channels.email import Mailer, mailer_for
from dunning.notify.channels.eml_outbox import FileMailer
from dunning.notify.channels.sms import SmsGateway
from dunning.notify.channels.webhooks import WebhookSender
from dunning.notify.customers import StripeCustomers
from dunning.notify.dispatcher import ChannelSet, DeliveryDispatcher, DispatcherConfig
from dunning.notify.handlers import CONSUMER_NAME, NotifyEventHandler
from dunning.notify.settings import NotifySettings
from dunning.notify.tables import SCHEMA
from dunning.notify.unsubscribe import UnsubscribeTokens
from dunning.notify.walker import EscalationWalker, WalkerConfig

MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="dunning.notify:migrations")
OUTBOX_SCHEMA = SCHEMA


def routers() -> list[APIRouter]:
    return [*api_routers(), b2b_router, public_router]


def event_consumer(
    db: Database,
    bootstrap: str,
    dlq_producer: AIOKafkaProducer,
    *,
    group_instance_id: str | None = None,
    clock: Clock | None = None,
) -> EventConsumer:
    """Payment and recovery events → escalations (the consumer group ``notify-escalations``)."""
    config = ConsumerConfig(
        name=CONSUMER_NAME,
        topics=[PAYMENT_EVENTS_TOPIC, RECOVERY_EVENTS_TOPIC],
        inbox_schema=SCHEMA,
        group_instance_id=group_instance_id,
    )
    return EventConsumer(db, bootstrap, config, NotifyEventHandler(clock or SystemClock()), dlq_producer)


def walker(settings: NotifySettings, db: Database, *, clock: Clock | None = None) -> EscalationWalker:
    return EscalationWalker(
        db,
        clock or SystemClock(),
        WalkerConfig(batch=settings.notify_worker_batch, poll_interval=settings.notify_poll_seconds),
    )


def dispatcher(
    settings: NotifySettings, db: Database, box: SecretBox, *, worker_id: str, clock: Clock | None = None
) -> tuple[DeliveryDispatcher, Callable[[], Awaitable[None]]]:
    """The delivery worker, and what closes its channels on shutdown."""
    smtp_url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
    shared: Mailer | None = mailer_for(smtp_url, settings.data_dir) if smtp_url else None

    folders: dict[str, Mailer] = {}

    def mailer(tenant_id: str) -> Mailer:
        # Without SMTP each tenant's mail lands in its own folder, which only its keys can list.
        if shared is not None:
            return shared
        return folders.setdefault(tenant_id, FileMailer(mail_folder(settings, tenant_id)))

    sms = None
    if settings.sms_account_sid and settings.sms_auth_token:
        # A half-configured SMS provider is a deployment error: say which setting is missing.
        settings.require("sms_from")
        sms = SmsGateway(
            settings.sms_api_base,
            settings.sms_account_sid,
            settings.sms_auth_token.get_secret_value(),
            settings.sms_from,
        )
    webhooks = WebhookSender()
    customers = StripeCustomers(api_base=settings.stripe_api_base)
    channels = ChannelSet(mailer_for=mailer, sms=sms, webhooks=webhooks, customers=customers)
    worker = DeliveryDispatcher(
        db,
        box,
        clock or SystemClock(),
        channels,
        UnsubscribeTokens(settings.require_secret_key()),
        DispatcherConfig(
            public_base=settings.public_base(),
            default_from=settings.mail_from,
            batch=settings.notify_worker_batch,
            poll_interval=settings.notify_poll_seconds,
            claim_ttl=timedelta(seconds=settings.notify_claim_ttl_seconds),
            max_attempts=settings.notify_max_attempts,
            enrich_after=timedelta(hours=settings.notify_enrich_hours),
            self_service_link_days=settings.self_service_link_days,
        ),
        worker_id=worker_id,
        links=SelfServiceLinks(settings.require_secret_key()),
    )

    async def close() -> None:
        await webhooks.aclose()
        await channels.chat.aclose()
        await customers.close()
        if sms is not None:
            await sms.aclose()

    return worker, close


def install(app: FastAPI, settings: NotifySettings, box: SecretBox) -> None:
    """Wire notify's state onto an app that may also carry other services' routes."""
    app.state.notify_settings = settings
    app.state.secret_box = box
