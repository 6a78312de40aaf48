"""A dunning case's attempt history: which methods were tried, when, and what each decline advised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from dunning.retry.domain.decline_codes import RetryTiming
from dunning.retry.domain.declines import DeclineAdvice
from dunning.retry.domain.local_time import as_utc


@dataclass(frozen=True, slots=True)
class PastAttempt:
    at: datetime
    method_id: str | None
    card_brand: str | None
    advice: DeclineAdvice


@dataclass(frozen=True, slots=True)
class AttemptHistory:
    """The failed attempts of one case, oldest first (the failure that opened it included)."""

    attempts: tuple[PastAttempt, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "attempts", tuple(sorted(self.attempts, key=lambda a: as_utc(a.at, "attempt")))
        )

    def __len__(self) -> int:
        return len(self.attempts)

    @property
    def last(self) -> PastAttempt | None:
        return self.attempts[-1] if self.attempts else None

    def on_method(self, method_id: str | None) -> tuple[PastAttempt, ...]:
        return tuple(a for a in self.attempts if a.method_id == method_id)

    def unretryable_method_ids(self, updated_at: Mapping[str, datetime | None]) -> frozenset[str]:
        """Methods a decline said not to charge again, unless the method changed since that decline."""
        blocked = set()
        for attempt in self.attempts:
            if attempt.method_id is None or attempt.advice.retry_same_method:
                continue
            changed = updated_at.get(attempt.method_id)
            if changed is None or as_utc(changed, "updated_at") <= attempt.at:
                blocked.add(attempt.method_id)
        return frozenset(blocked)

    def transient_streak(self) -> int:
        streak = 0
        for attempt in reversed(self.attempts):
            if attempt.advice.timing is not RetryTiming.SOON:
                break
            streak += 1
        return streak


def ruled_out_elsewhere(
    never_declined: Mapping[str, datetime], updated_at: Mapping[str, datetime | None]
) -> frozenset[str]:
    """Cards a `never` decline (lost, stolen, fraudulent...) in any case of the tenant ruled out.

    ``never_declined`` maps a method id to its latest such decline, whichever invoice it was
    for: a stolen card is stolen for every invoice. As within a case, a method changed after
    that decline (customer edit, network account updater) is judged afresh.
    """
    blocked = set()
    for method_id, declined_at in never_declined.items():
        changed = updated_at.get(method_id)
        if changed is None or as_utc(changed, "updated_at") <= as_utc(declined_at, "never decline"):
            blocked.add(method_id)
    return frozenset(blocked)
