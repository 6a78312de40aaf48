"""What the engine keeps per case while it runs, and the finished record every metric is computed from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

    @property
    def opened_at(self) -> datetime:
        return self.invoice.failed_at

    def result(self) -> CaseResult:
        return CaseResult(self.customer, self.invoice, tuple(self.attempts), self.recovered_at)


@dataclass(slots=True)
class World:
    """What all cases of one run share: every charge on each card, for the card network caps."""

    card_times: dict[str, list[datetime]] = field(default_factory=dict)

    def record(self, method_id: str, at: datetime) -> None:
        self.card_times.setdefault(method_id, []).append(at)

    def last_on(self, method_id: str) -> datetime | None:
        times = self.card_times.get(method_id)
        return times[-1] if times else None

    def view(self) -> Mapping[str, Sequence[datetime]]:
        return self.card_times
