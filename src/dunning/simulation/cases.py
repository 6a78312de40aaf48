"""What the engine keeps per case while it runs, and the finished record every metric is computed from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dunning.retry.domain.decline_codes import DeclineCategory
from dunning.retry.domain.history import AttemptHistory
from dunning.simulation.truth import Customer, Invoice


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One charge on a case: the failure that opened it (number 1) or one of the policy's."""

    at: datetime
    method_id: str
    brand: str | None
    succeeded: bool
    decline_code: str | None
    category: DeclineCategory | None  # of the decline, as ``classify_decline`` reads it
    number: int
    retried_code: str | None  # the decline this attempt was retrying (the learner's feature)
    reason: str


@dataclass(frozen=True, slots=True)
class CaseResult:
    customer: Customer
    invoice: Invoice
    attempts: tuple[AttemptRecord, ...]
    recovered_at: datetime | None

    @property
    def opened_at(self) -> datetime:
        return self.invoice.failed_at

    @property
    def first_code(self) -> str:
        return self.attempts[0].decline_code or "unknown" if self.attempts else "unknown"


@dataclass(frozen=True, slots=True)
class RunResult:
    policy: str
    population: str
    cases: tuple[CaseResult, ...]


class PlanKind(StrEnum):
    CHARGE = "charge"
    LOOKUP = "methods_lookup"  # fetch the customer's stored methods, then ask the scheduler again
    END = "end_action"  # dunning is over for this case at ``at``


@dataclass(frozen=True, slots=True)
class Plan:
    kind: PlanKind
    at: datetime
    method_id: str | None = None  # None: the customer's default method at charge time
    reason: str = ""


@dataclass(slots=True)
class CaseState:
    """A case in flight, as the engine and the policy see it (never the customer's ground truth)."""

    customer: Customer
    invoice: Invoice
    history: AttemptHistory = field(default_factory=AttemptHistory)
    attempts: list[AttemptRecord] = field(default_factory=list)
    pending: Plan | None = None
    token: int = 0  # bumped whenever ``pending`` is replaced, so stale timers are ignored
    recovered_at: datetime | None = None
    done: bool = False
    key: int = 0  # the case's index in the run, for what the world keeps per case

    @property
    def opened_at(self) -> datetime:
        return self.invoice.failed_at

    def result(self) -> CaseResult:
        return CaseResult(self.customer, self.invoice, tuple(self.attempts), self.recovered_at)


@dataclass(slots=True)
class World:
    """What all cases of one run share, as the retry service's attempts table does: every charge
    made on each card, every charge planned on it (by case), and each card's latest `never` decline.

    The scheduler counts made and planned charges for the card caps (``card_attempt_times``
    counts ``scheduled`` attempts too), so several invoices on one card cannot overshoot a cap.
    """

    card_times: dict[str, list[datetime]] = field(default_factory=dict)
    planned: dict[str, dict[int, datetime]] = field(default_factory=dict)  # card -> case key -> at
    planned_card: dict[int, str] = field(default_factory=dict)  # case key -> the card it will charge
    never_declined: dict[str, datetime] = field(default_factory=dict)

    def record(self, method_id: str, at: datetime, *, never: bool = False) -> None:
        self.card_times.setdefault(method_id, []).append(at)
        if never:
            self.never_declined[method_id] = max(at, self.never_declined.get(method_id, at))

    def plan(self, key: int, method_id: str | None, at: datetime | None) -> None:
        """The case's planned charge is now this one (None: nothing, or not on a known card)."""
        previous = self.planned_card.pop(key, None)
        if previous is not None:
            self.planned[previous].pop(key, None)
        if method_id is not None and at is not None:
            self.planned_card[key] = method_id
            self.planned.setdefault(method_id, {})[key] = at

    def last_on(self, method_id: str) -> datetime | None:
        times = self.card_times.get(method_id)
        return times[-1] if times else None

    def view(self, exclude: int | None = None) -> Mapping[str, Sequence[datetime]]:
        """Charges made and planned on each card, without case ``exclude``'s own planned one."""
        return _CardTimes(self, exclude)


class _CardTimes(Mapping[str, Sequence[datetime]]):
    """A card's times, merged when asked: the scheduler asks about one or two cards per decision."""

    __slots__ = ("_exclude", "_world")

    def __init__(self, world: World, exclude: int | None) -> None:
        self._world = world
        self._exclude = exclude

    def __getitem__(self, method_id: str) -> Sequence[datetime]:
        made = self._world.card_times.get(method_id)
        planned = self._world.planned.get(method_id)
        if made is None and planned is None:
            raise KeyError(method_id)
        return [*(made or ()), *(at for key, at in (planned or {}).items() if key != self._exclude)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._world.card_times.keys() | self._world.planned.keys())

    def __len__(self) -> int:
        return len(self._world.card_times.keys() | self._world.planned.keys())
