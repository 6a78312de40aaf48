"""The customer's stored payment methods: which may be charged instead of the failed one, in what order."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from dunning.retry.domain.local_time import as_utc


@dataclass(frozen=True, slots=True)
class StoredMethod:
    """A payment method the processor holds for the customer (no card data beyond brand and expiry)."""

    id: str
    kind: str
    brand: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    created: datetime
    # When the processor last changed it (customer edit, network account updater); declines
    # before this instant say nothing about the method as it is now.
    updated_at: datetime | None = None
    last4: str | None = None

    def label(self) -> str:
        """How a person names it: "card (visa ending 4242)"; the id only when nothing else tells."""
        kind = self.kind.replace("_", " ")
        shown = " ".join(p for p in (self.brand, f"ending {self.last4}" if self.last4 else None) if p)
        return f"{kind} ({shown})" if shown else f"{kind} {self.id}"

    def expires_at(self) -> datetime | None:
        """The first instant the card is no longer valid: cards run to the end of their expiry month."""
        if self.exp_month is None or self.exp_year is None or not 1 <= self.exp_month <= 12:
            return None
        if not 1 <= self.exp_year < 9999:
            return None
        if self.exp_month == 12:
            return datetime(self.exp_year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.exp_year, self.exp_month + 1, 1, tzinfo=UTC)

    def is_expired(self, now: datetime) -> bool:
        expires = self.expires_at()
        return expires is not None and as_utc(now, "now") >= expires

    def describe(self) -> str:
        label = f"{self.brand} {self.kind}" if self.brand else self.kind
        return f"{'default ' if self.is_default else ''}{label} {self.id}"


class MethodChangeKind(StrEnum):
    ATTACHED = "attached"  # the customer added it
    UPDATED = "updated"  # the customer edited it (expiry, billing details)
    AUTOMATICALLY_UPDATED = "automatically_updated"  # the card network's account updater replaced it
    DETACHED = "detached"  # the customer removed it


@dataclass(frozen=True, slots=True)
class MethodChange:
    """One of the customer's payment methods changed at ``at`` (the processor's time)."""

    kind: MethodChangeKind
    method: StoredMethod
    at: datetime

    def describe(self) -> str:
        label = self.method.label()
        if self.kind is MethodChangeKind.ATTACHED:
            return f"the customer attached a new {label}"
        if self.kind is MethodChangeKind.UPDATED:
            return f"the customer updated their {label}"
        if self.kind is MethodChangeKind.AUTOMATICALLY_UPDATED:
            return f"the card network updated the customer's {label} (account updater)"
        return f"the customer removed their {label}"


def order_alternates(
    methods: Iterable[StoredMethod],
    *,
    failed_method_id: str | None,
    hard_declined_ids: Collection[str],
    now: datetime,
) -> list[StoredMethod]:
    """Methods to try after ``failed_method_id``: unexpired, not hard-declined; default first, then newest.

    Expiry is judged in UTC at the end of the expiry month, a few hours early or late for some
    customers; the issuer would decline an expired card anyway, so the cost is one wasted try.
    """
    usable = [
        method
        for method in methods
        if method.id != failed_method_id and method.id not in hard_declined_ids and not method.is_expired(now)
    ]
    # Newest first among equals: a card added recently is the one the customer means to use.
    return sorted(usable, key=lambda m: (not m.is_default, -as_utc(m.created, "created").timestamp(), m.id))
