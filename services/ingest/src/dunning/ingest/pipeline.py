"""Webhook → verified → stored once → canonical events in the outbox, in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from dunning.common.clock import Clock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent, deterministic_event_id, make_event
from dunning.common.events.payment import event_subject
from dunning.common.events.topics import PAYMENT_EVENTS_TOPIC
from dunning.common.outbox import enqueue
from dunning.common.tenancy.service import active_webhook_secrets
from dunning.ingest import repository
from dunning.ingest.processors.base import (
    CanonicalEvent,
    InvalidSignature,
    ProcessorAdapter,
    ProviderEvent,
    WebhookRejected,
)
from dunning.ingest.tables import SCHEMA


class UnknownTenant(LookupError):
    pass


class UnknownProvider(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    status: Literal["accepted", "ignored", "duplicate"]
    provider_event_id: str
    events: list[str] = field(default_factory=list)
    reason: str | None = None


class _SecretCache:
    """Tenants' opened webhook secrets, kept briefly so that a webhook costs one transaction.

    A signature that fails against the cached secrets is checked once more against fresh ones
    (a secret added a moment ago works at once), but at most once a second per tenant, so a
    flood of forged requests cannot turn into a flood of database reads. A retired secret keeps
    working for at most ``ttl`` seconds on a replica that cached it.
    """

    REFRESH_INTERVAL = 1.0

    def __init__(self, ttl: float, monotonic: Callable[[], float]) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._entries: dict[tuple[str, str], tuple[float, list[str]]] = {}

    def get(self, tenant_id: str, provider: str) -> list[str] | None:
        entry = self._entries.get((tenant_id, provider))
        if entry is None or entry[0] + self._ttl <= self._monotonic():
            return None
        return entry[1]

    def may_refresh(self, tenant_id: str, provider: str) -> bool:
        entry = self._entries.get((tenant_id, provider))
        return entry is None or entry[0] + self.REFRESH_INTERVAL <= self._monotonic()

    def put(self, tenant_id: str, provider: str, secrets: list[str]) -> None:
        if self._ttl > 0:
            if len(self._entries) > 10_000:  # bounded: a flood of tenant ids cannot grow it
                self._entries.clear()
            self._entries[(tenant_id, provider)] = (self._monotonic(), secrets)


class WebhookPipeline:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        adapters: Mapping[str, ProcessorAdapter],
        clock: Clock,
        *,
        secret_cache_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._box = box
        self._adapters = dict(adapters)
        self._clock = clock
        self._secrets = _SecretCache(secret_cache_seconds, monotonic)

    def adapter(self, provider: str) -> ProcessorAdapter:
        try:
            return self._adapters[provider]
        except KeyError:
            raise UnknownProvider(provider) from None

    async def receive(
        self, provider: str, tenant_id: str, body: bytes, headers: Mapping[str, str]
    ) -> WebhookOutcome:
        """Answer only after the raw event and its outbox rows are committed (ack = durable).

        Raises ``UnknownTenant``, ``UnknownProvider`` or a ``WebhookRejected``; nothing is
        stored in those cases.
        """
        adapter = self.adapter(provider)
        await self._verify(adapter, provider, tenant_id, body, headers)
        event = adapter.parse(body)
        normalization = adapter.normalize(tenant_id, event)
        async with self._db.unit_of_work() as uow:
            stored = await repository.record_webhook(
                uow.session,
                tenant_id=tenant_id,
                provider=provider,
                event=event,
                normalization=normalization,
                raw_body=body,
            )
            if not stored:
                return WebhookOutcome("duplicate", event.id)
            for canonical in normalization.events:
                cloud_event = _cloud_event(provider, event, canonical)
                await enqueue(uow.session, SCHEMA, PAYMENT_EVENTS_TOPIC, cloud_event)
            await uow.commit()
        if not normalization.events:
            return WebhookOutcome("ignored", event.id, reason=normalization.ignored)
        return WebhookOutcome("accepted", event.id, events=[e.type.value for e in normalization.events])

    async def _verify(
        self,
        adapter: ProcessorAdapter,
        provider: str,
        tenant_id: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> None:
        cached = self._secrets.get(tenant_id, provider)
        if cached is not None:
            try:
                adapter.verify(body, headers, cached, self._clock.now())
                return
            except InvalidSignature:
                # Maybe signed with a secret added since we cached: read again, rate-limited.
                if not self._secrets.may_refresh(tenant_id, provider):
                    raise
        secrets = await self._load_secrets(provider, tenant_id)
        adapter.verify(body, headers, secrets, self._clock.now())

    async def _load_secrets(self, provider: str, tenant_id: str) -> list[str]:
        async with self._db.unit_of_work() as uow:
            secrets = await active_webhook_secrets(uow.session, self._box, tenant_id, provider)
        if secrets is None:
            raise UnknownTenant(tenant_id)
        if not secrets:
            raise WebhookRejected(f"tenant has no active {provider} webhook secret")
        self._secrets.put(tenant_id, provider, secrets)
        return secrets


def _cloud_event(provider: str, event: ProviderEvent, canonical: CanonicalEvent) -> CloudEvent:
    data = canonical.data
    return make_event(
        event_id=deterministic_event_id(data.tenant_id, provider, event.id, canonical.type.value),
        source=f"/dunning/ingest/{provider}",
        type=canonical.type.cloudevents_type,
        subject=event_subject(data.tenant_id, data),
        time=data.occurred_at,
        tenant_id=data.tenant_id,
        data=data,
    )


__all__ = [
    "UnknownProvider",
    "UnknownTenant",
    "WebhookOutcome",
    "WebhookPipeline",
    "WebhookRejected",
]
