"""A dunning case as the scheduler sees it: attempt numbering, card brands and the caps a slot must fit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dunning.retry.domain.caps import check_card_caps
from dunning.retry.domain.history import AttemptHistory
from dunning.retry.domain.learning import OutcomeStats
from dunning.retry.domain.local_time import CustomerZone, as_utc, into_hours
from dunning.retry.domain.methods import StoredMethod
from dunning.retry.domain.policy import RetryPolicy


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as the scheduler sees it at ``now``: its window, history, policy, zone and cards."""

    now: datetime
    closes: datetime
    history: AttemptHistory
    policy: RetryPolicy
    zone: CustomerZone
    stats: OutcomeStats | None
    card_times: Mapping[str, Sequence[datetime]]
    methods: tuple[StoredMethod, ...]
    # The latest `never` decline on each card in any of the tenant's cases.
    never_declined: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def attempt_number(self) -> int:
        return len(self.history) + 1

    @property
    def attempt_label(self) -> str:
        return f"attempt {self.attempt_number} of {self.policy.max_attempts}"

    def brand_of(self, method_id: str | None) -> str | None:
        for method in self.methods:
            if method.id == method_id and method.brand:
                return method.brand
        brands = [a.card_brand for a in self.history.on_method(method_id) if a.card_brand]
        return brands[-1] if brands else None

    def times_of(self, method_id: str | None) -> list[datetime]:
        # The repository's count of every attempt on the card, topped up with this case's own
        # (normally among them already). A multiset union: several invoices charged at the same
        # instant are several attempts.
        known = self.card_times.get(method_id, ()) if method_id is not None else ()
        merged = Counter(as_utc(t, "card attempt") for t in known)
        merged |= Counter(a.at for a in self.history.on_method(method_id))
        return sorted(merged.elements())

    def first_within_caps(
        self, start: datetime, method_id: str | None, *, local_hours: bool
    ) -> datetime | None:
        at = start
        for _ in range(8):
            if at >= self.closes:
                return None
            check = check_card_caps(
                self.times_of(method_id), self.brand_of(method_id), at, self.policy.card_caps
            )
            if check.allowed:
                return at
            if check.next_allowed_at is None:
                return None
            at = check.next_allowed_at
            if local_hours:
                at = into_hours(at, self.zone.zone, self.policy.retry_hours)
        return None
