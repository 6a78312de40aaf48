"""Durable timers: any replica claims due attempts (``FOR UPDATE SKIP LOCKED``) and runs them.

An attempt runs in three steps — read (one transaction), talk to the processor (none), record
the outcome (one transaction) — so no database lock is held across a network call. A process
killed anywhere leaves the attempt ``claimed``; after ``claim_ttl`` any replica runs it again
with the same idempotency key, and Stripe answers with the first outcome: never a second charge.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from dunning.common.clock import Clock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent
from dunning.common.events.recovery import RecoveryEventType
from dunning.common.events.topics import RECOVERY_EVENTS_TOPIC
from dunning.common.health import Heartbeat
from dunning.common.outbox import enqueue
from dunning.common.tenancy.service import ProcessorCredentials, processor_credentials_for
from dunning.common.timers import run_rounds
from dunning.retry import attempt_store, charge_gate, planning, repository
from dunning.retry.case_events import case_event
from dunning.retry.domain.lifecycle import Action, CaseStatus, Fact, Transition, apply_action, apply_fact
from dunning.retry.domain.methods import StoredMethod
from dunning.retry.domain.policy import EndAction, RetryMode
from dunning.retry.gateway import ChargeResult, ProcessorRefused, ProcessorUnavailable, StripeGateway
from dunning.retry.metrics import ATTEMPTS
from dunning.retry.repository import CaseRecord
from dunning.retry.tables import SCHEMA, attempts

log = structlog.get_logger(__name__)

_SETTLED = {"paid": Fact.PAID, "void": Fact.VOIDED, "uncollectible": Fact.UNCOLLECTIBLE}


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    batch: int = 10
    poll_interval: float = 1.0
    claim_ttl: timedelta = timedelta(minutes=10)
    unavailable_backoff: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What phase 2 learned; phase 3 writes it down."""

    status: str  # succeeded | failed | submitted | skipped | canceled | rescheduled
    note: str
    fact: Fact | None = None
    action: Action | None = None
    charge: ChargeResult | None = None
    methods: tuple[StoredMethod, ...] | None = None  # a lookup's finding
    retry_at: datetime | None = None  # "rescheduled": when to run again (default: after the backoff)
    replan: bool = False  # not run, and the scheduler is asked again for the case's next attempt


class AttemptExecutor:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        gateway: StripeGateway,
        clock: Clock,
        *,
        worker_id: str,
        config: ExecutorConfig | None = None,
    ) -> None:
        self._db = db
        self._box = box
        self._gateway = gateway
        self._clock = clock
        self._worker = worker_id
        self._config = config or ExecutorConfig()
        self.heartbeat = Heartbeat("retry-executor", stale_after=max(60.0, self._config.poll_interval * 10))

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self._config
        await run_rounds(
            stop,
            self.run_due,
            heartbeat=self.heartbeat,
            batch=cfg.batch,
            poll_interval=cfg.poll_interval,
            what="attempt execution",
        )

    async def run_due(self) -> int:
        """Claim and run one batch of due attempts; how many were claimed."""
        now = self._clock.now()
        cfg = self._config
        async with self._db.unit_of_work() as uow:
            claimed = await attempt_store.claim_due(
                uow.session, now=now, worker=self._worker, batch=cfg.batch, ttl=cfg.claim_ttl
            )
            await uow.commit()
        for row in claimed:
            self.heartbeat.beat()
            try:
                await self._run(row)
            except Exception as exc:  # one attempt's surprise must not strand the rest of the round
                log.exception("attempt failed unexpectedly; released for a later round", attempt=row["id"])
                await self._release(row, repr(exc))
        return len(claimed)

    async def _release(self, attempt: Any, error: str) -> None:
        async with self._db.unit_of_work() as uow:
            await attempt_store.release(
                uow.session, attempt["id"], self._worker, due_at=self._clock.now() + timedelta(minutes=1)
            )
            await uow.commit()
        log.warning("attempt released", attempt=attempt["id"], error=error[:300])

    async def _run(self, attempt: Any) -> None:
        async with self._db.unit_of_work() as uow:
            case = await repository.case_row(uow.session, attempt["case_id"])
            creds = await processor_credentials_for(
                uow.session, self._box, case["tenant_id"], case["provider"]
            )
            policy = await planning.tenant_policy(uow.session, case["tenant_id"])
            held = await charge_gate.cap_hold(uow.session, attempt, case, policy, self._clock.now())
        if case["status"] != CaseStatus.OPEN.value:
            outcome = Outcome("canceled", f"not run: the case is {case['status']}")
        elif policy.mode is RetryMode.OBSERVE:
            # The tenant switched to observe since this was planned: the processor retries now.
            outcome = Outcome("canceled", "not run: the tenant's policy is observe (the processor retries)")
        elif creds is None:
            outcome = Outcome(
                "skipped", "not run: the tenant has no Stripe API key (dunning tenants set-stripe-key)"
            )
        elif held is not None and held.retry_at is not None:
            outcome = Outcome("rescheduled", held.note, retry_at=held.retry_at)
        elif held is not None:
            outcome = Outcome("canceled", held.note, replan=True)
        else:
            try:
                outcome = await self._talk(attempt, case, creds, policy.end_action)
            except ProcessorUnavailable as exc:
                outcome = Outcome("rescheduled", f"processor unavailable ({exc}); trying again later")
            except ProcessorRefused as exc:
                outcome = self._refused(attempt, exc)
        await self._record(attempt, outcome)

    @staticmethod
    def _refused(attempt: Any, exc: ProcessorRefused) -> Outcome:
        if attempt["kind"] == "end_action":
            # Dunning is over either way; what the processor would not do is on the timeline.
            return Outcome(
                "failed", f"dunning ended; the end action was refused: {exc}", action=Action.EXHAUST
            )
        # Not a decline (a revoked key, a request the processor rejects): no retry can fix it,
        # so nothing more is planned until someone acts (retry now, a new failure, a new key).
        return Outcome("refused", f"refused by the processor ({exc.code or 'no code'}): {exc}")

    async def _talk(
        self, attempt: Any, case: Any, creds: ProcessorCredentials, end_action: EndAction
    ) -> Outcome:
        account = case["provider_account"]
        if attempt["kind"] == "methods_lookup":
            customer = (
                case["customer_id"]
                or (await self._gateway.invoice(creds, case["invoice_id"], account)).customer_id
            )
            found = await self._gateway.stored_methods(creds, customer, account) if customer else []
            return Outcome("succeeded", f"found {len(found)} stored payment method(s)", methods=tuple(found))
        if attempt["kind"] == "end_action":
            if end_action is EndAction.MARK_UNCOLLECTIBLE:
                await self._gateway.mark_uncollectible(creds, case["invoice_id"], account)
            elif end_action is EndAction.CANCEL_SUBSCRIPTION:
                if not case["subscription_id"]:
                    return Outcome(
                        "succeeded", "dunning ended: no subscription to cancel", action=Action.EXHAUST
                    )
                await self._gateway.cancel_subscription(creds, case["subscription_id"], account)
            return Outcome("succeeded", f"dunning ended: {end_action}", action=Action.EXHAUST)
        # Before charging, ask the processor: the customer may have paid, or the invoice gone.
        snapshot = await self._gateway.invoice(creds, case["invoice_id"], account)
        if snapshot.status in _SETTLED:
            return Outcome(
                "skipped",
                f"not charged: the invoice is already {snapshot.status}",
                fact=_SETTLED[snapshot.status],
            )
        result = await self._gateway.pay(
            creds,
            case["invoice_id"],
            payment_method_id=attempt["method_id"],
            idempotency_key=attempt["idempotency_key"],
            account=account,
        )
        if result.succeeded:
            return Outcome("succeeded", "charged: the invoice is paid", fact=Fact.PAID, charge=result)
        if result.processing:
            return Outcome(
                "submitted",
                "payment submitted: the processor is still processing it (e.g. a bank debit); its "
                "invoice.paid or payment_failed event settles the case",
                charge=result,
            )
        why = result.decline_code or result.failure_code or "declined"
        return Outcome("failed", f"declined: {why}", charge=result)

    async def _record(self, attempt: Any, outcome: Outcome) -> None:
        now = self._clock.now()
        async with self._db.unit_of_work() as uow:
            session = uow.session
            record = await repository.lock_case(session, attempt["case_id"])
            if not await attempt_store.still_claimed(session, attempt["id"], self._worker):
                return  # our claim expired and another replica took it over: its outcome counts
            reported_already = await attempt_store.finish(
                session, attempt["id"], self._attempt_values(outcome, now)
            )
            transition: Transition | None = None
            if outcome.status == "failed" and attempt["kind"] == "charge" and not reported_already:
                transition = apply_fact(record.ledger, Fact.FAILED, now)  # counts the failure, no events
            elif outcome.fact is not None:
                transition = apply_fact(record.ledger, outcome.fact, now)
            elif outcome.action is not None:
                transition = apply_action(record.ledger, outcome.action, now)
            ledger = transition.ledger if transition else record.ledger
            await repository.save(session, record.id, ledger, {})
            await repository.add_to_timeline(
                session,
                case_id=record.id,
                tenant_id=record.tenant_id,
                at=now,
                kind="attempt",
                type=attempt["kind"],
                note=f"attempt {attempt['attempt_no']}: {outcome.note}",
                cause_event_id=attempt["id"],
                data={"status": outcome.status, "reason": attempt["reason"]},
            )
            outgoing = self._attempt_events(attempt, outcome, record, now)
            if transition is not None:
                outgoing += [
                    case_event(
                        RecoveryEventType(name),
                        case_id=record.id,
                        tenant_id=record.tenant_id,
                        invoice_id=record.invoice_id,
                        ledger=ledger,
                        details=record.details,
                        note=transition.note,
                        occurred_at=now,
                        cause_id=attempt["id"],
                        cause_type=f"attempt.{attempt['kind']}",
                    )
                    for name in transition.events
                ]
            if ledger.status is not CaseStatus.OPEN:
                await attempt_store.cancel_pending(session, record.id, f"the case is {ledger.status}")
            elif (
                (outcome.status == "failed" and attempt["kind"] == "charge")
                or outcome.methods is not None
                or outcome.replan
            ):
                outgoing += await planning.plan_next(
                    session,
                    case_id=record.id,
                    tenant_id=record.tenant_id,
                    invoice_id=record.invoice_id,
                    ledger=ledger,
                    details=record.details,
                    now=now,
                    methods=outcome.methods,
                )
            for event in outgoing:
                await enqueue(session, SCHEMA, RECOVERY_EVENTS_TOPIC, event)
            await uow.commit()
        ATTEMPTS.labels(attempt["kind"], outcome.status).inc()

    @staticmethod
    def _attempt_events(
        attempt: Any, outcome: Outcome, record: CaseRecord, now: datetime
    ) -> list[CloudEvent]:
        if attempt["kind"] != "charge" or outcome.status not in ("succeeded", "failed"):
            return []
        kind = (
            RecoveryEventType.ATTEMPT_SUCCEEDED
            if outcome.status == "succeeded"
            else RecoveryEventType.ATTEMPT_FAILED
        )
        charge = outcome.charge
        return [
            planning.attempt_event(
                kind,
                tenant_id=record.tenant_id,
                case_id=record.id,
                invoice_id=record.invoice_id,
                attempt_id=attempt["id"],
                number=attempt["attempt_no"],
                method_id=attempt["method_id"],
                due_at=attempt["due_at"],
                reason=attempt["reason"],
                probability=attempt["success_probability"],
                details=record.details,
                occurred_at=now,
                decline_code=charge.decline_code if charge else None,
                failure_code=charge.failure_code if charge else None,
            )
        ]

    def _attempt_values(self, outcome: Outcome, now: datetime) -> dict[str, Any]:
        if outcome.status == "rescheduled":
            # An outage is on the timeline only, the reason staying the scheduler's; a move by
            # the card caps changes when the attempt runs, so its reason says why.
            values: dict[str, Any] = {
                "status": "scheduled",
                "claimed_by": None,
                "due_at": outcome.retry_at or now + self._config.unavailable_backoff,
            }
            if outcome.retry_at is not None:
                values["reason"] = attempts.c.reason + f" — {outcome.note}"
            return values
        if outcome.replan:
            return {
                "status": outcome.status,
                "finished_at": now,
                "reason": attempts.c.reason + f" — {outcome.note}",
            }
        values = {"status": outcome.status, "finished_at": now}
        charge = outcome.charge
        if charge is not None:
            values |= {
                "charge_ref": charge.charge_id,
                "decline_code": charge.decline_code,
                "failure_code": charge.failure_code,
                "advice_code": charge.advice_code,
                "network_advice_code": charge.network_advice_code,
            }
        if outcome.status == "failed":
            values["due_at"] = now  # the scheduler counts a failure at the time it happened
        return values
