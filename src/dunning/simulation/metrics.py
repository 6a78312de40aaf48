"""Per-policy figures from a run: recovery, revenue, attempts, time to recover, and rule-breaking counted.

Cap violations are judged by the retry service's own ``check_card_caps`` against the default
card network caps, over every charge on each card in the run (all cases), in time order.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dunning.retry.domain.caps import check_card_caps
from dunning.retry.domain.decline_codes import DeclineCategory
from dunning.retry.domain.policy import CardNetworkCaps
from dunning.simulation.cases import CaseResult, RunResult

CURVE_DAYS = 30


@dataclass(frozen=True, slots=True)
class PolicyMetrics:
    policy: str
    cases: int
    recovered: int
    retries: int  # charges after the failure that opened each case, recovered or not
    recovered_minor: dict[str, int]
    owed_minor: dict[str, int]
    ttr_p50_days: float | None
    ttr_p90_days: float | None
    cap_violations: int
    never_attempts: int  # charges on a method after it had a `never` decline in the same case
    # ... after a `never` decline on that card in any case; the failure that opened a case is
    # the processor's charge of a new invoice, not a retry, so it is not counted
    never_attempts_any_case: int
    curve: tuple[float, ...]  # share of cases recovered by the end of day d, d = 0..CURVE_DAYS
    by_code: dict[str, tuple[int, int]] = field(default_factory=dict)  # first decline: (cases, recovered)
    attempts_histogram: dict[int, int] = field(default_factory=dict)  # charges per case -> cases

    @property
    def recovery_rate(self) -> float:
        return self.recovered / self.cases if self.cases else 0.0

    @property
    def attempts_per_recovery(self) -> float | None:
        return self.retries / self.recovered if self.recovered else None

    def revenue_share(self, currency: str) -> float:
        owed = self.owed_minor.get(currency, 0)
        return self.recovered_minor.get(currency, 0) / owed if owed else 0.0


def measure(run: RunResult, caps: CardNetworkCaps | None = None) -> PolicyMetrics:
    cases = run.cases
    recovered = [c for c in cases if c.recovered_at is not None]
    owed: Counter[str] = Counter()
    won: Counter[str] = Counter()
    by_code: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case in cases:
        owed[case.invoice.currency] += case.invoice.amount
        tally = by_code[case.first_code]
        tally[0] += 1
        if case.recovered_at is not None:
            won[case.invoice.currency] += case.invoice.amount
            tally[1] += 1
    delays = sorted(_days(c.recovered_at - c.opened_at) for c in recovered if c.recovered_at is not None)
    return PolicyMetrics(
        policy=run.policy,
        cases=len(cases),
        recovered=len(recovered),
        retries=sum(max(len(c.attempts) - 1, 0) for c in cases),
        recovered_minor=dict(won),
        owed_minor=dict(owed),
        ttr_p50_days=percentile(delays, 50),
        ttr_p90_days=percentile(delays, 90),
        cap_violations=cap_violations(cases, caps or CardNetworkCaps()),
        never_attempts=sum(_never_in_case(c) for c in cases),
        never_attempts_any_case=_never_any_case(cases),
        curve=_curve(cases, delays),
        by_code={code: (n, r) for code, (n, r) in sorted(by_code.items())},
        attempts_histogram=dict(sorted(Counter(len(c.attempts) for c in cases).items())),
    )


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def cap_violations(cases: Sequence[CaseResult], caps: CardNetworkCaps) -> int:
    """Charges that the card's earlier charges (any case) put over a card network cap."""
    by_card: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
    for case in cases:
        for attempt in case.attempts:
            by_card[attempt.method_id].append((attempt.at, attempt.brand))
    broken = 0
    for charges in by_card.values():
        charges.sort(key=lambda pair: pair[0])
        for k, (at, brand) in enumerate(charges):
            earlier = [t for t, _ in charges[:k] if t > at - timedelta(days=31)]
            if not check_card_caps(earlier, brand, at, caps).allowed:
                broken += 1
    return broken


def _never_in_case(case: CaseResult) -> int:
    dead: set[str] = set()
    wasted = 0
    for attempt in case.attempts:
        if attempt.method_id in dead:
            wasted += 1
        if attempt.category is DeclineCategory.NEVER:
            dead.add(attempt.method_id)
    return wasted


def _never_any_case(cases: Sequence[CaseResult]) -> int:
    charges = sorted(
        (a.at, a.number, a.method_id, a.category is DeclineCategory.NEVER) for c in cases for a in c.attempts
    )
    dead: set[str] = set()
    wasted = 0
    for _, number, method_id, never in charges:
        if method_id in dead and number > 1:
            wasted += 1
        if never:
            dead.add(method_id)
    return wasted


def _curve(cases: Sequence[CaseResult], delays: Sequence[float]) -> tuple[float, ...]:
    total = len(cases) or 1
    return tuple(sum(1 for d in delays if d < day + 1) / total for day in range(CURVE_DAYS + 1))


def _days(span: timedelta) -> float:
    return span.total_seconds() / 86400
