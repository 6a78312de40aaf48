"""Retry policies side by side: ours (the retry service's real scheduler) and fixed-schedule baselines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from dunning.retry.domain.learning import OutcomeStats
from dunning.retry.domain.methods import MethodChange, MethodChangeKind, StoredMethod
from dunning.retry.domain.policy import RetryPolicy
from dunning.retry.domain.schedule import Slot, Stop, next_attempt_slot
from dunning.simulation.cases import CaseState, Plan, PlanKind, World
from dunning.simulation.truth import Instrument

# Every policy charges a card the customer attaches after this long (the service's default).
CARD_UPDATE_DELAY = timedelta(minutes=5)


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    def after_failure(self, case: CaseState, now: datetime, world: World) -> Plan | None: ...

    def after_lookup(self, case: CaseState, now: datetime, world: World) -> Plan | None: ...

    def after_card_attached(
        self, case: CaseState, now: datetime, world: World, card: Instrument
    ) -> Plan | None:
        """A plan that replaces the pending one, or None to keep what is planned."""
        ...


@dataclass(frozen=True, slots=True)
class OursPolicy:
    """The retry service's decision path (``planning.plan_next``, ``method_changes``) over simulated time.

    Calls ``next_attempt_slot`` exactly as the service does: the case's failures, the latest
    one's advice, every charge made or planned on each card across the tenant (the case's own
    planned one aside: a new plan replaces it), each card's latest `never` decline in any case,
    the customer's time zone when the billing address gives one, learned stats when there are
    some; stored methods only after a lookup, which the service schedules when the scheduler
    stops and the tenant allows other methods.
    """

    name: str
    policy: RetryPolicy
    stats: OutcomeStats | None = None

    def after_failure(self, case: CaseState, now: datetime, world: World) -> Plan | None:
        decision = self._decide(case, now, world, None)
        if isinstance(decision, Stop) and self.policy.allow_alternate_methods:
            reason = decision.reason.split("; waiting")[0]
            return Plan(PlanKind.LOOKUP, now + self.policy.cascade_delay, None, reason)
        return _plan_of(decision)

    def after_lookup(self, case: CaseState, now: datetime, world: World) -> Plan | None:
        default = case.customer.default_method_at(now)
        methods = tuple(m.stored(is_default=m.id == default.id) for m in case.customer.methods_at(now))
        return _plan_of(self._decide(case, now, world, methods))

    def after_card_attached(
        self, case: CaseState, now: datetime, world: World, card: Instrument
    ) -> Plan | None:
        pending = case.pending
        if pending is not None and pending.kind is PlanKind.CHARGE and pending.method_id == card.id:
            return None
        change = MethodChange(MethodChangeKind.ATTACHED, card.stored(), now)
        decision = self._decide(case, now, world, None, change)
        if isinstance(decision, Stop):
            return None
        if pending is not None and pending.kind is PlanKind.CHARGE and pending.at <= decision.due_at:
            return None  # a charge due sooner stays, as in the service
        return Plan(PlanKind.CHARGE, decision.due_at, decision.method_id, decision.reason)

    def _decide(
        self,
        case: CaseState,
        now: datetime,
        world: World,
        methods: tuple[StoredMethod, ...] | None,
        change: MethodChange | None = None,
    ) -> Slot | Stop:
        last = case.history.last
        if last is None:
            raise ValueError("the scheduler plans from a case's failures; this case has none")
        return next_attempt_slot(
            now=now,
            opened_at=case.opened_at,
            history=case.history,
            advice=last.advice,
            policy=self.policy,
            customer_tz=case.customer.scheduler_tz,
            stats=self.stats,
            card_attempt_times=world.view(exclude=case.key),
            methods=methods or (),
            method_id=last.method_id,
            change=change,
            never_declined=world.never_declined,
        )


def _plan_of(decision: Slot | Stop) -> Plan | None:
    if isinstance(decision, Slot):
        return Plan(PlanKind.CHARGE, decision.due_at, decision.method_id, decision.reason)
    if decision.end_action is None or decision.end_at is None:
        return None
    return Plan(PlanKind.END, decision.end_at, None, decision.reason)


@dataclass(frozen=True, slots=True)
class FixedSchedule:
    """Retry the customer's default method at fixed offsets from the failure, whatever the decline says.

    That is what a fixed schedule does: it neither reads decline codes nor counts card attempts,
    so its attempts on `never` declines and over the card caps are counted, not prevented. A card
    the customer attaches is charged after the same delay as ours while the schedule runs.
    """

    name: str
    offsets: tuple[timedelta, ...]
    description: str

    @property
    def retries(self) -> int:
        return len(self.offsets)

    def after_failure(self, case: CaseState, now: datetime, world: World) -> Plan | None:
        del world  # a fixed schedule counts nothing
        for offset in self.offsets:
            at = case.opened_at + offset
            if at > now:
                return Plan(PlanKind.CHARGE, at, None, f"{self.name}: retry at +{_days(offset)}")
        return Plan(PlanKind.END, now, None, f"{self.name}: all {self.retries} retries made")

    def after_lookup(self, case: CaseState, now: datetime, world: World) -> Plan | None:
        return self.after_failure(case, now, world)

    def after_card_attached(
        self, case: CaseState, now: datetime, world: World, card: Instrument
    ) -> Plan | None:
        del world
        at = now + CARD_UPDATE_DELAY
        if at > case.opened_at + self.offsets[-1]:
            return None
        pending = case.pending
        if pending is not None and pending.kind is PlanKind.CHARGE and pending.at <= at:
            return None
        return Plan(PlanKind.CHARGE, at, card.id, f"{self.name}: the customer attached a new card")


def _days(offset: timedelta) -> str:
    days = offset.total_seconds() / 86400
    return f"{days:g} days"


def evenly(retries: int, days: float) -> tuple[timedelta, ...]:
    step = timedelta(days=days) / retries
    return tuple(step * k for k in range(1, retries + 1))


BASELINES: tuple[FixedSchedule, ...] = (
    FixedSchedule(
        "fixed 8 in 14d", evenly(8, 14), "8 retries evenly over 2 weeks (Stripe's recommended count)"
    ),
    FixedSchedule("fixed 4 in 21d", evenly(4, 21), "4 retries evenly over 21 days"),
    FixedSchedule(
        "Kill Bill 8/8/8",
        (timedelta(days=8), timedelta(days=16), timedelta(days=24)),
        "Kill Bill's default payment retry schedule: 8, 8 and 8 days apart",
    ),
    FixedSchedule("daily 21d", evenly(21, 21), "a retry every 24 hours for 21 days"),
)
