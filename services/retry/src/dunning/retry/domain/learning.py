"""Learning from outcomes: a tenant's success rate by slot features, smoothed toward priors, kept explainable.

The model is naive-Bayes-like in log-odds. The base rate is the tenant's success rate shrunk
toward a global prior (``base_strength`` pseudo-attempts). Each feature value's rate is shrunk
toward that base (``feature_strength`` pseudo-attempts); its lift is its log-odds minus the
base's, capped per feature and in total so no single feature, nor their sum, runs away.
With no data every lift is zero and the estimate is the prior. Each lift is reported, so a
reason can say which evidence moved the choice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from dunning.retry.domain.local_time import resolve_zone

# Attempt numbers past this share one bucket: late attempts are few and alike.
ATTEMPT_NUMBER_BUCKETS = 8


@dataclass(frozen=True, slots=True)
class SlotFeatures:
    """What the learner knows about a candidate attempt: local calendar and clock, decline, attempt number."""

    day_of_month: int
    weekday: int  # Monday is 0
    hour: int  # local hour, 0-23
    decline_code: str | None
    attempt_number: int

    @classmethod
    def at(
        cls, instant: datetime, zone: tzinfo, *, decline_code: str | None, attempt_number: int
    ) -> SlotFeatures:
        local = instant.astimezone(zone)
        return cls(local.day, local.weekday(), local.hour, decline_code, attempt_number)

    def items(self) -> tuple[tuple[str, str], ...]:
        attempt = min(max(self.attempt_number, 1), ATTEMPT_NUMBER_BUCKETS)
        return (
            ("day_of_month", str(self.day_of_month)),
            ("weekday", str(self.weekday)),
            ("hour", str(self.hour)),
            ("decline_code", self.decline_code or "none"),
            ("attempt_number", f"{attempt}+" if attempt == ATTEMPT_NUMBER_BUCKETS else str(attempt)),
        )


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """One past charge attempt and whether it succeeded, as the learner reads it."""

    at: datetime
    succeeded: bool
    decline_code: str | None  # the decline the attempt was retrying
    attempt_number: int
    customer_tz: str | None = None

    def features(self) -> SlotFeatures:
        return SlotFeatures.at(
            self.at,
            resolve_zone(self.customer_tz).zone,
            decline_code=self.decline_code,
            attempt_number=self.attempt_number,
        )


@dataclass(frozen=True, slots=True)
class LearningPrior:
    """Global priors and how strongly they hold.

    A retry succeeds roughly one time in six or seven across the industry's published
    recovery figures, hence 0.15. ``base_strength`` 50 means a tenant needs about 50 attempts
    before its own rate counts as much as the prior; ``feature_strength`` 20 means one feature
    value needs about 20 attempts before it counts as much as the tenant's base rate, so a
    single lucky success barely moves it. A lift of 1.0 in log-odds is odds times e.
    """

    success_rate: float = 0.15
    base_strength: float = 50.0
    feature_strength: float = 20.0
    max_feature_lift: float = 1.0
    max_total_lift: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.success_rate < 1.0:
            raise ValueError(
                f"the prior success rate must be strictly between 0 and 1, got {self.success_rate}"
            )
        for name in ("base_strength", "feature_strength", "max_feature_lift", "max_total_lift"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value}")


@dataclass(frozen=True, slots=True)
class Estimate:
    probability: float
    base_rate: float
    # (feature, value, lift in log-odds), as applied after capping
    lifts: tuple[tuple[str, str, float], ...]

    def explain(self) -> str:
        moved = [f"{name} {value} {lift:+.2f}" for name, value, lift in self.lifts if abs(lift) >= 0.005]
        detail = ", ".join(moved) if moved else "no feature moved it"
        return f"{self.probability:.0%} expected success (tenant base {self.base_rate:.0%}; {detail})"


@dataclass(frozen=True, slots=True)
class OutcomeStats:
    """Attempt and success counts overall and per feature value, for one tenant or segment."""

    attempts: int = 0
    successes: int = 0
    by_feature: Mapping[tuple[str, str], tuple[int, int]] = field(default_factory=dict, hash=False)
    prior: LearningPrior = field(default_factory=LearningPrior)

    @classmethod
    def from_outcomes(
        cls, outcomes: Iterable[AttemptOutcome], *, prior: LearningPrior | None = None
    ) -> OutcomeStats:
        attempts = successes = 0
        counts: dict[tuple[str, str], tuple[int, int]] = {}
        for outcome in outcomes:
            won = 1 if outcome.succeeded else 0
            attempts += 1
            successes += won
            for key in outcome.features().items():
                seen, won_before = counts.get(key, (0, 0))
                counts[key] = (seen + 1, won_before + won)
        return cls(attempts, successes, counts, prior or LearningPrior())

    def base_rate(self) -> float:
        p = self.prior
        if self.attempts == 0:
            return p.success_rate
        return (self.successes + p.success_rate * p.base_strength) / (self.attempts + p.base_strength)

    def estimate(self, features: SlotFeatures) -> Estimate:
        p = self.prior
        base = self.base_rate()
        lifts: list[tuple[str, str, float]] = []
        for key in features.items():
            seen, won = self.by_feature.get(key, (0, 0))
            if seen == 0:
                lifts.append((*key, 0.0))
                continue
            rate = (won + p.feature_strength * base) / (seen + p.feature_strength)
            lift = _clamp(_logit(rate) - _logit(base), p.max_feature_lift)
            lifts.append((*key, lift))
        total = _clamp(sum(lift for _, _, lift in lifts), p.max_total_lift)
        if total == 0.0:
            # Exactly the base, not a round trip through log-odds: equal evidence must tie exactly.
            return Estimate(base, base, tuple(lifts))
        return Estimate(_sigmoid(_logit(base) + total), base, tuple(lifts))

    def success_probability(self, features: SlotFeatures) -> float:
        return self.estimate(features).probability


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _clamp(value: float, bound: float) -> float:
    return max(-bound, min(bound, value))
