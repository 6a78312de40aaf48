"""The delivery worker: a durable timer over delivery rows. Any replica claims due ones
(``FOR UPDATE SKIP LOCKED``) and takes each through three steps, holding no lock across a
network call: decide and render (one transaction), hand to the channel (none), record (one).

Deciding may mean waiting (quiet hours, a contact cap), suppressing with a recorded reason
(opted out, no address) or cancelling (the case recovered meanwhile). A worker killed mid-send
leaves the row ``sending``; after the claim TTL another worker sends it again with the same
Message-ID / idempotency token / webhook-id, so a receiver can recognise the repeat.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.clock import Clock, SystemClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.notification import NotificationEventType, OptedOutData
from dunning.common.health import Heartbeat
from dunning.common.selfservice_link import DEFAULT_LINK_DAYS, SelfServiceLinks
from dunning.common.tenancy.service import processor_credentials_for
from dunning.common.timers import run_rounds
from dunning.notify import delivery_store, escalation_events, repository
from dunning.notify.channels.chat import ChatSender
from dunning.notify.channels.email import Mailer
from dunning.notify.channels.errors import DeliveryError
from dunning.notify.channels.sms import SmsGateway
from dunning.notify.channels.webhooks import WebhookSender
from dunning.notify.composer import Composed, compose
from dunning.notify.customers import StripeCustomers
from dunning.notify.demand_letters import B2B_LETTER
from dunning.notify.internal_escalation import INTERNAL_CHANNELS, INTERNAL_CHAT, INTERNAL_EMAIL
from dunning.notify.internal_summary import compose_internal
from dunning.notify.letter_compose import compose_letter
from dunning.notify.metrics import MESSAGES
from dunning.notify.unsubscribe import UnsubscribeTokens

log = structlog.get_logger(__name__)

_OUTCOMES = {"defer": "deferred", "suppress": "suppressed", "cancel": "canceled", "hold": "held"}


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    public_base: str
    default_from: str
    batch: int = 20
    poll_interval: float = 1.0
    claim_ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    first_backoff: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(hours=6)
    enrich_after: timedelta = timedelta(hours=24)
    self_service_link_days: int = DEFAULT_LINK_DAYS


@dataclass(slots=True)
class ChannelSet:
    """The adapters deliveries go out through; each is optional but email."""

    mailer_for: Any  # Callable[[str], Mailer]: tenant id → mailer (a folder per tenant when embedded)
    sms: SmsGateway | None = None
    webhooks: WebhookSender = field(default_factory=WebhookSender)
    # Receivers check a webhook's timestamp against their own clock (replay protection), so it
    # is wall time even when the business clock is simulated.
    wall_clock: Clock = field(default_factory=SystemClock)
    customers: StripeCustomers | None = None  # enrichment from the processor, when wanted
    chat: ChatSender = field(default_factory=ChatSender)  # internal escalations to a team's chat

    def mailer(self, tenant_id: str) -> Mailer:
        mailer: Mailer = self.mailer_for(tenant_id)
        return mailer


class ClaimLost(Exception):
    """Another worker took the delivery over before this one handed the message to its channel."""


class DeliveryDispatcher:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        clock: Clock,
        channels: ChannelSet,
        tokens: UnsubscribeTokens,
        config: DispatcherConfig,
        *,
        worker_id: str,
        links: SelfServiceLinks | None = None,
    ) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._channels = channels
        self._tokens = tokens
        self._links = links
        self._config = config
        self._worker = worker_id
        self.heartbeat = Heartbeat("notify-dispatcher", stale_after=max(60.0, config.poll_interval * 10))

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self._config
        await run_rounds(
            stop,
            self.send_due,
            heartbeat=self.heartbeat,
            batch=cfg.batch,
            poll_interval=cfg.poll_interval,
            what="delivery",
        )

    async def send_due(self) -> int:
        """Claim and handle one batch of due deliveries; how many were claimed."""
        now = self._clock.now()
        cfg = self._config
        async with self._db.unit_of_work() as uow:
            claimed, handed_off = await delivery_store.claim_due(
                uow.session, now=now, worker=self._worker, batch=cfg.batch, ttl=cfg.claim_ttl
            )
            for gone in handed_off:
                await escalation_events.delivery_outcome(
                    uow.session, NotificationEventType.NOTIFICATION_SENT, gone, at=gone["sent_at"]
                )
            await uow.commit()
        for gone in handed_off:
            MESSAGES.labels(gone["channel"], "sent").inc()
            log.warning("a stopped worker had handed this message over: counted as sent", delivery=gone["id"])
        # The batch goes out concurrently: each delivery has its own transactions and its own
        # channel call, and most of a send is waiting on an SMTP server or an HTTP API.
        await asyncio.gather(*(self._deliver_guarded(row) for row in claimed))
        return len(claimed)

    async def _deliver_guarded(self, row: Any) -> None:
        self.heartbeat.beat()
        try:
            await self._deliver(row)
        except Exception as exc:  # one delivery's surprise must not strand the rest of the round
            log.exception("delivery failed unexpectedly; released for a later round", delivery=row["id"])
            await self._settle_failure(row, DeliveryError(f"internal error: {exc!r}"[:300], permanent=False))

    async def _enrich(self, row: Any, now: datetime) -> None:
        """Read the processor's customer once in a while, outside any transaction."""
        customers = self._channels.customers
        if customers is None or not row["customer_id"] or row["channel"] not in ("email", "sms"):
            return
        tenant, customer_id = row["tenant_id"], row["customer_id"]
        async with self._db.unit_of_work() as uow:
            contact = await repository.contact_row(uow.session, tenant, customer_id)
            creds = await processor_credentials_for(uow.session, self._box, tenant, "stripe")
        fresh = (
            contact is not None
            and contact["enriched_at"]
            and now - contact["enriched_at"] < self._config.enrich_after
        )
        if creds is None or fresh:
            return
        account = (contact["observed"] or {}).get("provider_account") if contact else None
        found = await customers.contact(creds, customer_id, account)
        if found is None:
            return
        async with self._db.unit_of_work() as uow:
            await repository.merge_contact_layer(
                uow.session, tenant_id=tenant, customer_id=customer_id, layer="processor", values=found
            )
            await repository.mark_enriched(uow.session, tenant_id=tenant, customer_id=customer_id, at=now)
            await uow.commit()

    async def _deliver(self, row: Any) -> None:
        now = self._clock.now()
        await self._enrich(row, now)
        async with self._db.unit_of_work() as uow:
            locked = await delivery_store.lock_claimed(
                uow.session, row["id"], self._worker, now=self._clock.now()
            )
            if locked is None:
                return  # the claim expired and another worker has it
            composed = await self._compose(uow.session, locked, now)
            if composed.verdict == "defer":
                assert composed.until is not None
                await delivery_store.reschedule(
                    uow.session,
                    row["id"],
                    at=composed.until,
                    note=composed.note,
                    attempts=locked["attempts"] - 1,
                )
            elif composed.verdict in ("suppress", "cancel", "hold"):
                status = {"suppress": "suppressed", "cancel": "canceled", "hold": "held"}[composed.verdict]
                await delivery_store.finish(
                    uow.session,
                    row["id"],
                    status=status,
                    note=composed.note,
                    reason_code=composed.reason_code,
                )
                if status == "suppressed":
                    await escalation_events.delivery_outcome(
                        uow.session,
                        NotificationEventType.NOTIFICATION_SUPPRESSED,
                        locked,
                        at=now,
                        note=composed.note,
                        reason_code=composed.reason_code,
                        address=composed.address,
                        locale=composed.locale,
                    )
            else:
                await delivery_store.store_content(uow.session, row["id"], **composed.stored())
                if composed.letter_pdf is not None:
                    await delivery_store.store_letter(uow.session, locked, composed.letter_pdf)
            await uow.commit()
        if composed.verdict != "send":
            MESSAGES.labels(row["channel"], _OUTCOMES[composed.verdict]).inc()
            log.info(
                "delivery decided", delivery=row["id"], verdict=composed.verdict, reason=composed.reason_code
            )
            return
        try:
            provider_id = await self._transmit(row, composed)
        except ClaimLost:
            log.warning("claim lost before the message was handed over; not sent", delivery=row["id"])
            return
        except DeliveryError as exc:
            await self._settle_failure(row, exc, composed)
            return
        async with self._db.unit_of_work() as uow:
            sent_at = self._clock.now()
            settled = await delivery_store.finish(
                uow.session,
                row["id"],
                status="sent",
                worker=self._worker,
                sent_at=sent_at,
                provider_message_id=provider_id,
                note="sent",
            )
            if not settled:
                return  # the claim expired after the hand-off; whoever took it back told it
            current = await delivery_store.get(uow.session, row["id"])
            await escalation_events.delivery_outcome(
                uow.session, NotificationEventType.NOTIFICATION_SENT, current, at=sent_at
            )
            await uow.commit()
        MESSAGES.labels(row["channel"], "sent").inc()
        log.info("message sent", delivery=row["id"], channel=row["channel"], level=row["level"])

    async def _compose(self, session: AsyncSession, locked: Any, now: datetime) -> Composed:
        """The channel's composer: the team's alert, a B2B letter, or the customer's message."""
        cfg = self._config
        if locked["channel"] in INTERNAL_CHANNELS:
            return await compose_internal(
                session, locked, now=now, public_base=cfg.public_base, default_from=cfg.default_from
            )
        if locked["channel"] == B2B_LETTER:
            return await compose_letter(
                session,
                locked,
                now=now,
                default_from=cfg.default_from,
                public_base=cfg.public_base,
                links=self._links,
                link_days=cfg.self_service_link_days,
            )
        return await compose(
            session,
            locked,
            now=now,
            box=self._box,
            tokens=self._tokens,
            public_base=cfg.public_base,
            default_from=cfg.default_from,
            sms_available=self._channels.sms is not None,
            links=self._links,
            link_days=cfg.self_service_link_days,
        )

    async def _transmit(self, row: Any, composed: Composed) -> str | None:
        channel = row["channel"]
        if channel in ("email", INTERNAL_EMAIL, B2B_LETTER):
            assert composed.email is not None
            return await self._channels.mailer(row["tenant_id"]).send(
                composed.email, commit_point=lambda: self._hand_off(row["id"])
            )
        if channel == "sms":
            assert self._channels.sms is not None
            assert composed.address
            assert composed.rendered
            return await self._channels.sms.send(
                composed.address, composed.rendered.text, idempotency_key=row["key"]
            )
        if channel in ("webhook", "agency"):
            assert composed.endpoint_url
            assert composed.endpoint_secret
            assert composed.payload is not None
            status = await self._channels.webhooks.send(
                composed.endpoint_url,
                composed.endpoint_secret,
                msg_id=f"msg_{row['id']}",
                payload=composed.payload,
                timestamp=self._channels.wall_clock.now(),
            )
            return f"http_{status}"
        if channel == INTERNAL_CHAT:
            assert composed.endpoint_url
            assert composed.payload is not None
            status = await self._channels.chat.send(composed.endpoint_url, str(composed.payload["text"]))
            return f"http_{status}"
        return None  # in-app: stored is delivered; the platform reads the feed

    async def _hand_off(self, delivery_id: str) -> None:
        """The email's commit point (ADR 0007): committed before the server gets its end of data."""
        async with self._db.unit_of_work() as uow:
            now = self._clock.now()
            held = await delivery_store.hand_off(uow.session, delivery_id, self._worker, now=now)
            await uow.commit()
        if not held:
            raise ClaimLost(delivery_id)

    async def _settle_failure(self, row: Any, exc: DeliveryError, composed: Composed | None = None) -> None:
        now = self._clock.now()
        cfg = self._config
        async with self._db.unit_of_work() as uow:
            current = await delivery_store.get(uow.session, row["id"])
            if current is None or current["status"] != "sending" or current["claimed_by"] != self._worker:
                return
            attempts = int(current["attempts"])
            if exc.recipient_opted_out and composed is not None and composed.address:
                await repository.add_opt_out(
                    uow.session,
                    tenant_id=row["tenant_id"],
                    channel=row["channel"],
                    address=composed.address,
                    customer_id=row["customer_id"],
                    source="provider",
                )
                outcome = "suppressed"
                note = f"suppressed: the provider holds an opt-out for this recipient ({exc})"
                await escalation_events.opted_out(
                    uow.session,
                    OptedOutData(
                        tenant_id=row["tenant_id"],
                        customer_id=row["customer_id"],
                        occurred_at=now,
                        channel=row["channel"],
                        address=escalation_events.mask_address(composed.address),
                        source="provider",
                    ),
                    address=composed.address,
                )
                await delivery_store.finish(
                    uow.session, row["id"], status="suppressed", note=note, reason_code="provider_opt_out"
                )
                await escalation_events.delivery_outcome(
                    uow.session,
                    NotificationEventType.NOTIFICATION_SUPPRESSED,
                    current,
                    at=now,
                    note=note,
                    reason_code="provider_opt_out",
                )
            elif exc.transient and attempts < cfg.max_attempts:
                outcome = "retried"
                wait = min(cfg.first_backoff * 2 ** (attempts - 1), cfg.max_backoff)
                wait = wait * random.uniform(0.8, 1.2)
                if exc.retry_after is not None:
                    wait = max(wait, timedelta(seconds=exc.retry_after))
                await delivery_store.reschedule(
                    uow.session,
                    row["id"],
                    at=now + wait,
                    note=f"attempt {attempts} failed ({exc}); trying again",
                )
            else:
                outcome = "failed"
                why = "permanent failure" if exc.permanent else f"gave up after {attempts} attempts"
                note = f"{why}: {exc}"
                await delivery_store.finish(
                    uow.session, row["id"], status="failed", note=note, reason_code=exc.code
                )
                await escalation_events.delivery_outcome(
                    uow.session,
                    NotificationEventType.NOTIFICATION_FAILED,
                    current,
                    at=now,
                    note=note,
                    reason_code=exc.code,
                )
            await uow.commit()
        MESSAGES.labels(row["channel"], outcome).inc()
        log.warning("delivery attempt failed", delivery=row["id"], code=exc.code, permanent=exc.permanent)
