"""The escalation walker: a durable timer over escalations. Any replica claims the due ones
(``FOR UPDATE SKIP LOCKED``), plans one delivery per channel of the level reached, and sets the
next level's due time — all in one short transaction, so a crash repeats nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.clock import Clock
from dunning.common.db import Database
from dunning.common.events.notification import HandedOffData
from dunning.common.health import Heartbeat
from dunning.common.timers import run_rounds
from dunning.notify import delivery_store, demand_letters, escalation_events, internal_escalation, repository
from dunning.notify.charges import message_charges
from dunning.notify.contacts import resolve
from dunning.notify.domain.escalation import next_level
from dunning.notify.escalation_events import mask_address
from dunning.notify.metrics import LEVELS
from dunning.notify.policy_schema import PolicyBody, to_policy

log = structlog.get_logger(__name__)

AGENCY = "agency"  # a delivery kind beside the customer channels: the case file to the agency


@dataclass(frozen=True, slots=True)
class WalkerConfig:
    batch: int = 50
    poll_interval: float = 1.0


class EscalationWalker:
    def __init__(self, db: Database, clock: Clock, config: WalkerConfig | None = None) -> None:
        self._db = db
        self._clock = clock
        self._config = config or WalkerConfig()
        self.heartbeat = Heartbeat("notify-walker", stale_after=max(60.0, self._config.poll_interval * 10))

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self._config
        await run_rounds(
            stop,
            self.walk_due,
            heartbeat=self.heartbeat,
            batch=cfg.batch,
            poll_interval=cfg.poll_interval,
            what="escalation walk",
        )

    async def walk_due(self) -> int:
        """Advance every due escalation by one level and fire due demand-letter thresholds (ADR
        0010); the larger of the two counts, so a full batch of either brings another round."""
        now = self._clock.now()
        async with self._db.unit_of_work() as uow:
            rows = await repository.claim_due_escalations(uow.session, now=now, batch=self._config.batch)
            for row in rows:
                await self._reach_level(uow.session, row, now)
            letters = await demand_letters.fire_due(uow.session, now=now, batch=self._config.batch)
            await uow.commit()
        return max(len(rows), letters)

    async def _reach_level(self, session: AsyncSession, row: Any, now: datetime) -> None:
        policy = to_policy(PolicyBody.model_validate(row["policy"]))
        index: int = row["next_level"]
        level = policy.levels[index]
        tenant, case_id = row["tenant_id"], row["case_id"]
        for channel in level.channels:
            await delivery_store.schedule(
                session,
                tenant_id=tenant,
                key=delivery_store.delivery_key(tenant, case_id, index, channel.value),
                template=level.template.value,
                channel=channel.value,
                due_at=row["next_due_at"],
                case_id=case_id,
                invoice_id=row["invoice_id"],
                customer_id=row["customer_id"],
                level=index,
                level_name=level.name,
                note=f"level {index} ({level.name}): {row['next_note']}",
            )
        if level.hand_off:
            await self._hand_off(session, row, index, now)
        await demand_letters.arm(session, row)
        alerted = await internal_escalation.plan(session, row, index=index, level_name=level.name, now=now)
        following = next_level(policy, reached=index, opened_at=row["opened_at"], previous_sent_at=now)
        await repository.update_escalation(
            session,
            case_id,
            status="active" if following else "completed",
            status_note="escalating" if following else "every level reached",
            reached_level=index,
            reached_at=now,
            next_level=following.index if following else None,
            next_due_at=following.due_at if following else None,
            next_note=following.why if following else None,
        )
        channels = ", ".join(c.value for c in level.channels) or "no channel"
        note = f"reached level {index} ({level.name}) on {channels}"
        if following:
            note += f"; next {following.level.name!r} due {following.why}"
        if alerted:
            note += f"; {internal_escalation.describe(alerted)}"
        await escalation_events.level_changed(
            session,
            tenant_id=tenant,
            case_id=case_id,
            invoice_id=row["invoice_id"],
            customer_id=row["customer_id"],
            level=index,
            level_name=level.name,
            previous=row["reached_level"],
            status="active" if following else "completed",
            note=note,
            next_due_at=following.due_at if following else None,
            at=now,
            cause=f"level:{index}",
        )
        LEVELS.labels(level.name).inc()
        log.info("escalation level reached", case=case_id, level=index, name=level.name)

    async def _hand_off(self, session: AsyncSession, row: Any, index: int, now: datetime) -> None:
        tenant, case_id = row["tenant_id"], row["case_id"]
        invoice = await repository.invoice_facts(session, tenant, row["invoice_id"])
        contact = (
            await repository.contact_row(session, tenant, row["customer_id"]) if row["customer_id"] else None
        )
        history = await repository.history_of(session, case_id)
        messages = await delivery_store.of_case(session, tenant, case_id)
        agency = await repository.endpoint(session, tenant, AGENCY)
        policy = await repository.policy_of(session, tenant)
        who = resolve(row["customer_id"], contact, default_locale=policy.default_locale)
        amount = invoice["amount"] if invoice and invoice["amount"] is not None else 0
        currency = invoice["currency"] if invoice and invoice["currency"] else "USD"
        charges = message_charges(
            policy,
            amount=amount,
            currency=currency,
            due=(invoice["due_date"] if invoice else None) or row["opened_at"].date(),
            today=now.date(),
            level=index,
            b2b=who.customer_type == "b2b" or policy.compliance.regime == "b2b",
        )
        case_file = HandedOffData(
            tenant_id=tenant,
            case_id=case_id,
            invoice_id=row["invoice_id"],
            customer_id=row["customer_id"],
            occurred_at=now,
            amount=amount,
            currency=currency,
            fees=charges.total,
            opened_at=row["opened_at"],
            customer_name=who.name,
            customer_email=who.email,
            attempts=[
                {"type": h["type"], "at": h["at"].isoformat(), **h["summary"]}
                for h in history
                if h["type"].startswith("attempt.")
            ],
            messages=[
                {
                    "level": m["level"],
                    "channel": m["channel"],
                    "template": m["template"],
                    "status": m["status"],
                    "sent_at": m["sent_at"].isoformat() if m["sent_at"] else None,
                    "note": m["note"],
                }
                for m in messages
            ],
            agency_delivery="pending" if agency else "not_configured",
        )
        # The topic gets the address masked like every notification event; the agency, which
        # must reach the customer, gets it in full through its signed delivery.
        published = case_file.model_copy(update={"customer_email": mask_address(who.email)})
        await escalation_events.handed_off(session, published, case_id=case_id)
        if agency is not None:
            await delivery_store.schedule(
                session,
                tenant_id=tenant,
                key=delivery_store.delivery_key(tenant, case_id, index, AGENCY),
                template="collections",
                channel=AGENCY,
                due_at=now,
                case_id=case_id,
                invoice_id=row["invoice_id"],
                customer_id=row["customer_id"],
                level=index,
                level_name="collections hand-off",
                note="the case file goes to the collections agency",
                facts=case_file.model_dump(mode="json"),
            )
