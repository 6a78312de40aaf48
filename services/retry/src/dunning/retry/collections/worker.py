"""Durable timers of collections: a promise checked at the end of its day, an instalment charged
when due, a fully paid plan settled at the processor. Any replica claims rows with
``FOR UPDATE SKIP LOCKED``; like the attempt executor, no lock is held across a processor call,
and a charge re-run after a crash carries the same idempotency key: never a second charge."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select, update

from dunning.common.clock import Clock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Heartbeat
from dunning.common.tenancy.service import processor_credentials_for
from dunning.common.timers import run_rounds
from dunning.retry import repository
from dunning.retry.collections import instalment_outcomes, promise_checks, store
from dunning.retry.collections.charging import CollectionsGateway
from dunning.retry.collections.instalment_outcomes import ChargeOutcome
from dunning.retry.collections.tables import instalments, plans, promises
from dunning.retry.domain.lifecycle import UNPAID
from dunning.retry.gateway import ProcessorRefused, ProcessorUnavailable

log = structlog.get_logger(__name__)

SETTLED = ("paid", "void", "uncollectible")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    batch: int = 10
    poll_interval: float = 1.0
    claim_ttl: timedelta = timedelta(minutes=10)
    unavailable_backoff: timedelta = timedelta(minutes=5)


class CollectionsWorker:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        gateway: CollectionsGateway,
        clock: Clock,
        *,
        worker_id: str,
        config: WorkerConfig | None = None,
    ) -> None:
        self._db, self._box, self._gateway, self._clock = db, box, gateway, clock
        self._worker = worker_id
        self._config = config or WorkerConfig()
        self.heartbeat = Heartbeat(
            "collections-worker", stale_after=max(60.0, self._config.poll_interval * 10)
        )

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self._config
        await run_rounds(
            stop,
            self.run_due,
            heartbeat=self.heartbeat,
            batch=cfg.batch,
            poll_interval=cfg.poll_interval,
            what="collections",
        )

    async def run_due(self) -> int:
        """One round: due promises, due instalments, paid-up plans; how many rows were handled."""
        now, cfg = self._clock.now(), self._config
        async with self._db.unit_of_work() as uow:
            due_promises = await store.claim_due(
                uow.session, "promises", "check_at", "active", now=now, worker=self._worker,
                batch=cfg.batch, ttl=cfg.claim_ttl,
            )  # fmt: skip
            due_instalments = await store.claim_due(
                uow.session, "instalments", "due_at", "scheduled", now=now, worker=self._worker,
                batch=cfg.batch, ttl=cfg.claim_ttl,
            )  # fmt: skip
            settling = await store.settling_plans(uow.session, cfg.batch)
            await uow.commit()
        for row in due_promises:
            await self._guarded(self._check_promise, row, "promises")
        for row in due_instalments:
            await self._guarded(self._charge, row, "instalments")
        for row in settling:
            await self._guarded(self._settle, row._mapping, None)
        return len(due_promises) + len(due_instalments) + len(settling)

    async def _guarded(self, step: Any, row: Any, table: str | None) -> None:
        self.heartbeat.beat()
        try:
            await step(row)
        except Exception as exc:  # one row's surprise must not strand the rest of the round
            log.exception("collections step failed; released for a later round", row=row["id"])
            if table is not None:
                await self._release(table, row["id"], repr(exc))

    async def _release(self, table: str, row_id: str, error: str) -> None:
        column = {"promises": "check_at", "instalments": "due_at"}[table]
        ready = {"promises": "active", "instalments": "scheduled"}[table]
        target = {"promises": promises, "instalments": instalments}[table]
        async with self._db.unit_of_work() as uow:
            await uow.session.execute(
                update(target)
                .where(
                    target.c.id == row_id, target.c.claimed_by == self._worker, target.c.status == "claimed"
                )
                .values(status=ready, claimed_by=None, **{column: self._clock.now() + timedelta(minutes=1)})
            )
            await uow.commit()
        log.warning("collections row released", row=row_id, error=error[:300])

    async def _invoice_status(self, case: Any) -> tuple[str | None, Any]:
        """The invoice's status at the processor (None: no key) and the snapshot."""
        async with self._db.unit_of_work() as uow:
            creds = await processor_credentials_for(
                uow.session, self._box, case["tenant_id"], case["provider"]
            )
        if creds is None:
            return None, None
        snapshot = await self._gateway.invoice(creds, case["invoice_id"], case["provider_account"])
        return snapshot.status, (creds, snapshot)

    async def _check_promise(self, row: Any) -> None:
        async with self._db.unit_of_work() as uow:
            case = await repository.case_row(uow.session, row["case_id"])
        at_processor: str | None = None
        if case["status"] in {s.value for s in UNPAID}:
            try:
                at_processor, _ = await self._invoice_status(case)
            except ProcessorUnavailable:
                await self._release("promises", row["id"], "processor unavailable")
                return
            except ProcessorRefused as exc:
                log.warning("invoice not readable at the promise check", case=case["id"], error=str(exc))
        now = self._clock.now()
        async with self._db.unit_of_work() as uow:
            record = await repository.lock_case(uow.session, row["case_id"])
            if not await store.still_claimed(uow.session, "promises", row["id"], self._worker):
                return
            await promise_checks.conclude(uow.session, record, row, at_processor, now)
            await uow.commit()

    async def _charge(self, row: Any) -> None:
        async with self._db.unit_of_work() as uow:
            case = await repository.case_row(uow.session, row["case_id"])
            plan = (await uow.session.execute(select(plans).where(plans.c.id == row["plan_id"]))).one()
        outcome = await self._talk(row, case, plan)
        now = self._clock.now()
        async with self._db.unit_of_work() as uow:
            record = await repository.lock_case(uow.session, row["case_id"])
            if not await store.still_claimed(uow.session, "instalments", row["id"], self._worker):
                return  # our claim expired and another replica took over: its outcome counts
            await instalment_outcomes.apply(
                uow.session, record, row, outcome, now, backoff=self._config.unavailable_backoff
            )
            await uow.commit()

    async def _talk(self, row: Any, case: Any, plan: Any) -> ChargeOutcome:
        if plan.status != "active":
            return ChargeOutcome("canceled", f"not charged: the plan is {plan.status}")
        if case["status"] not in {s.value for s in UNPAID}:
            return ChargeOutcome("canceled", f"not charged: the case is {case['status']}")
        try:
            status, found = await self._invoice_status(case)
            if status is None:
                return ChargeOutcome("rescheduled", "not charged: the tenant has no Stripe API key")
            creds, snapshot = found
            # Paid, voided or written off elsewhere meanwhile: the plan has nothing left to collect.
            if status in SETTLED:
                return ChargeOutcome("settled", f"not charged: the invoice is already {status}", status)
            customer = snapshot.customer_id or case["customer_id"]
            method = snapshot.default_payment_method_id or case["payment_method_id"]
            if not customer or not method:
                return ChargeOutcome("failed", "not charged: the customer has no stored payment method")
            result = await self._gateway.charge_instalment(
                creds,
                customer_id=customer,
                payment_method_id=method,
                amount=row["amount"],
                currency=row["currency"],
                metadata={
                    "dunning_case": case["id"],
                    "invoice": case["invoice_id"],
                    "plan": row["plan_id"],
                    "instalment": str(row["number"]),
                },
                # One key per try of one instalment: a re-run after a crash replays the first answer.
                idempotency_key=f"{case['id']}:plan:{row['plan_id']}:{row['number']}:{row['tries'] + 1}",
                account=case["provider_account"],
            )
        except ProcessorUnavailable as exc:
            return ChargeOutcome("rescheduled", f"processor unavailable ({exc}); trying again later")
        except ProcessorRefused as exc:
            return ChargeOutcome("failed", f"refused by the processor: {exc}", failure_code=exc.code)
        if result.succeeded:
            return ChargeOutcome("paid", "charged", payment_intent_id=result.payment_intent_id)
        why = result.decline_code or result.failure_code or "declined"
        return ChargeOutcome(
            "failed",
            f"declined: {why}",
            payment_intent_id=result.payment_intent_id,
            decline_code=result.decline_code,
            failure_code=result.failure_code,
        )

    async def _settle(self, plan: Any) -> None:
        async with self._db.unit_of_work() as uow:
            case = await repository.case_row(uow.session, plan["case_id"])
        try:
            status, found = await self._invoice_status(case)
            if status is None:
                return
            if status == "open":
                creds, _ = found
                await self._gateway.pay_out_of_band(
                    creds,
                    case["invoice_id"],
                    idempotency_key=f"{case['id']}:plan:{plan['id']}:paid_out_of_band",
                    account=case["provider_account"],
                )
                status = "paid"
        except (ProcessorUnavailable, ProcessorRefused) as exc:
            log.warning("plan paid up, invoice not yet marked paid", plan=plan["id"], error=str(exc))
            return  # the plan stays "settling": the next round tries again
        now = self._clock.now()
        async with self._db.unit_of_work() as uow:
            record = await repository.lock_case(uow.session, plan["case_id"])
            await instalment_outcomes.complete(uow.session, record, plan["id"], status, now)
            await uow.commit()
