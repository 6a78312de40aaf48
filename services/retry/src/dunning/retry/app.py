"""The retry service's parts for a process to run: migrations, outbox, the case consumer."""

from __future__ import annotations

from datetime import timedelta

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI

from dunning.common.clock import Clock, SystemClock
from dunning.common.consumer import ConsumerConfig, EventConsumer
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.topics import NOTIFICATION_EVENTS_TOPIC, PAYMENT_EVENTS_TOPIC
from dunning.common.migrations import MigrationSet
from dunning.retry import selfservice
from dunning.retry.analytics_api import analytics_router, export_router
from dunning.retry.api import policy_router, router
from dunning.retry.collections.api import routers as collections_routers
from dunning.retry.collections.charging import CollectionsGateway
from dunning.retry.collections.worker import CollectionsWorker, WorkerConfig
from dunning.retry.executor import AttemptExecutor, ExecutorConfig
from dunning.retry.gateway import StripeGateway
from dunning.retry.handlers import CONSUMER_NAME, PaymentEventHandler
from dunning.retry.settings import RetrySettings
from dunning.retry.tables import SCHEMA


def routers() -> list[APIRouter]:
    # The export router first: /v1/cases.csv is matched before any /v1/cases/... route.
    routes = [export_router, router, policy_router, analytics_router, *collections_routers()]
    return [*routes, selfservice.router]  # /pay/: public, for customers (deploy: the public host)


def install(app: FastAPI, settings: RetrySettings, box: SecretBox) -> None:
    """Request-time state of the retry slice: the customer's self-service page (``/pay/``)."""
    selfservice.install(app, settings, box, stripe_api_base=settings.stripe_api_base)


MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="dunning.retry:migrations")
OUTBOX_SCHEMA = SCHEMA


def case_consumer(
    db: Database,
    bootstrap: str,
    dlq_producer: AIOKafkaProducer,
    *,
    group_instance_id: str | None = None,
    clock: Clock | None = None,
) -> EventConsumer:
    """Payment events → dunning cases, notification events → their timelines (group ``retry-cases``)."""
    config = ConsumerConfig(
        name=CONSUMER_NAME,
        topics=[PAYMENT_EVENTS_TOPIC, NOTIFICATION_EVENTS_TOPIC],
        inbox_schema=SCHEMA,
        group_instance_id=group_instance_id,
    )
    return EventConsumer(db, bootstrap, config, PaymentEventHandler(clock or SystemClock()), dlq_producer)


def attempt_executor(
    settings: RetrySettings, db: Database, box: SecretBox, *, worker_id: str, clock: Clock | None = None
) -> tuple[AttemptExecutor, StripeGateway]:
    """The durable-timer worker and the gateway it charges through (close it on shutdown)."""
    # The collections worker charges instalments through the same gateway (one token bucket).
    gateway = CollectionsGateway(api_base=settings.stripe_api_base)
    executor = AttemptExecutor(
        db,
        box,
        gateway,
        clock or SystemClock(),
        worker_id=worker_id,
        config=ExecutorConfig(
            batch=settings.retry_worker_batch,
            poll_interval=settings.retry_poll_seconds,
            claim_ttl=timedelta(seconds=settings.retry_claim_ttl_seconds),
        ),
    )
    return executor, gateway


def collections_worker(
    settings: RetrySettings,
    db: Database,
    box: SecretBox,
    gateway: StripeGateway,
    *,
    worker_id: str,
    clock: Clock | None = None,
) -> CollectionsWorker:
    """Promises checked, instalments charged (through ``attempt_executor``'s gateway)."""
    if not isinstance(gateway, CollectionsGateway):
        raise TypeError("the collections worker needs the gateway attempt_executor made")
    return CollectionsWorker(
        db,
        box,
        gateway,
        clock or SystemClock(),
        worker_id=worker_id,
        config=WorkerConfig(
            batch=settings.retry_worker_batch,
            poll_interval=settings.retry_poll_seconds,
            claim_ttl=timedelta(seconds=settings.retry_claim_ttl_seconds),
        ),
    )
