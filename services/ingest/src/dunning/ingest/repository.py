"""All SQL of the ``ingest`` schema."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.ingest.processors.base import Normalization, ProviderEvent
from dunning.ingest.tables import webhook_events


async def record_webhook(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    event: ProviderEvent,
    normalization: Normalization,
    raw_body: bytes,
) -> bool:
    """Store the event once; False when this (tenant, provider, event id) was already stored.

    Fifty concurrent deliveries of one event serialize on the unique key: the first inserts,
    the others wait for its transaction and then insert nothing.
    """
    statement = (
        insert(webhook_events)
        .values(
            tenant_id=tenant_id,
            provider=provider,
            provider_event_id=event.id,
            provider_event_type=event.type,
            provider_account=event.account,
            livemode=event.livemode,
            occurred_at=event.created,
            outcome="accepted" if normalization.events else "ignored",
            ignored_reason=normalization.ignored,
            canonical_types=",".join(e.type.value for e in normalization.events),
            raw_body=raw_body,
        )
        .on_conflict_do_nothing(constraint="uq_webhook_events_provider_event")
        .returning(webhook_events.c.id)
    )
    return (await session.execute(statement)).first() is not None


async def prune_raw_bodies(session: AsyncSession, *, older_than: timedelta, batch: int = 1000) -> int:
    """Empty the raw bodies (customer names, emails) of webhooks older than ``older_than``.

    The row stays: it is the dedupe record, and Stripe may redeliver for days. Batched so
    that a large backlog never holds long locks.
    """
    result = await session.execute(
        text(
            "UPDATE ingest.webhook_events SET raw_body = ''::bytea WHERE id IN ("
            " SELECT id FROM ingest.webhook_events"
            " WHERE received_at < now() - make_interval(secs => :secs) AND octet_length(raw_body) > 0"
            " ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)"
        ),
        {"secs": older_than.total_seconds(), "batch": batch},
    )
    return int(getattr(result, "rowcount", 0) or 0)
