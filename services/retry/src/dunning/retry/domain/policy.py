"""A tenant's retry policy: mode, limits, card network caps, local hours and the end of dunning, validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import TypeVar

from dunning.retry.domain.local_time import LocalHours, human_duration
from dunning.retry.domain.networks import CardNetwork, card_network

_E = TypeVar("_E", bound=StrEnum)


class RetryMode(StrEnum):
    OWN_RETRIES = "own_retries"  # we retry; the tenant turns the processor's retries off
    OBSERVE = "observe"  # the processor retries; we only track and notify


class EndAction(StrEnum):
    CANCEL_SUBSCRIPTION = "cancel_subscription"
    MARK_UNCOLLECTIBLE = "mark_uncollectible"
    LEAVE_PAST_DUE = "leave_past_due"


@dataclass(frozen=True, slots=True)
class NetworkCap:
    """At most ``limit`` attempts on one card in any rolling ``per``."""

    limit: int
    per: timedelta

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"a card cap allows at least 1 attempt, got {self.limit!r}")
        if not isinstance(self.per, timedelta) or self.per <= timedelta(0):
            raise ValueError(f"a card cap's window must be a positive duration, got {self.per!r}")

    @property
    def window(self) -> str:
        return human_duration(self.per)

    def __str__(self) -> str:
        return f"{self.limit} per {self.window}"


_THIRTY_DAYS = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class CardNetworkCaps:
    """Attempt caps per card, by network.

    Defaults: Visa 15 reattempts in 30 days (Visa's excessive reattempt rule; Visa raised it to
    20 in 2026, 15 stays the safe default), Mastercard 35 in 30 days and 10 in 24 hours
    (Mastercard's excessive retry program). Other networks publish no figure we rely on, so
    they get Visa's. We cap per card, which is stricter than the per-payment rules.
    """

    visa: tuple[NetworkCap, ...] = (NetworkCap(15, _THIRTY_DAYS),)
    mastercard: tuple[NetworkCap, ...] = (NetworkCap(35, _THIRTY_DAYS), NetworkCap(10, timedelta(hours=24)))
    other: tuple[NetworkCap, ...] = (NetworkCap(15, _THIRTY_DAYS),)

    def __post_init__(self) -> None:
        for name in ("visa", "mastercard", "other"):
            caps = getattr(self, name)
            if not isinstance(caps, tuple) or not caps or not all(isinstance(c, NetworkCap) for c in caps):
                raise ValueError(f"card caps for {name} must be a non-empty tuple of NetworkCap")

    def for_brand(self, brand: str | None) -> tuple[NetworkCap, ...]:
        network = card_network(brand)
        if network is CardNetwork.VISA:
            return self.visa
        if network is CardNetwork.MASTERCARD:
            return self.mastercard
        if network is CardNetwork.UNKNOWN:
            # Without a brand the card may be any of them: honour every cap at once.
            return tuple(dict.fromkeys((*self.visa, *self.mastercard, *self.other)))
        return self.other


MAX_ATTEMPTS_LIMIT = 50
WINDOW_DAYS_LIMIT = 180
CASCADE_DELAY_LIMIT = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one tenant (or segment) wants failed payments retried.

    ``max_attempts`` counts every charge attempt in a case, the failure that opened it included.
    ``spacing_days`` is the gap before each successive spaced retry; the last one repeats.
    """

    mode: RetryMode = RetryMode.OWN_RETRIES
    max_attempts: int = 8
    window_days: int = 21
    cascade_delay: timedelta = timedelta(minutes=5)
    # Charging another stored method needs the tenant's explicit consent.
    allow_alternate_methods: bool = False
    card_caps: CardNetworkCaps = field(default_factory=CardNetworkCaps)
    # Leaving the invoice past_due is the one end action that destroys nothing; cancelling
    # or writing off is the tenant's choice to make.
    end_action: EndAction = EndAction.LEAVE_PAST_DUE
    retry_hours: LocalHours = field(default_factory=LocalHours)
    payday_hours: LocalHours = field(default_factory=lambda: LocalHours(time(8), time(11)))
    paydays: bool = True
    spacing_days: tuple[int, ...] = (1, 2, 3, 5, 7)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", _enum(RetryMode, self.mode, "mode"))
        object.__setattr__(self, "end_action", _enum(EndAction, self.end_action, "end_action"))
        _int_between("max_attempts", self.max_attempts, 1, MAX_ATTEMPTS_LIMIT)
        _int_between("window_days", self.window_days, 1, WINDOW_DAYS_LIMIT)
        if not isinstance(self.cascade_delay, timedelta):
            raise ValueError(f"cascade_delay must be a timedelta, got {self.cascade_delay!r}")
        if not timedelta(0) <= self.cascade_delay <= CASCADE_DELAY_LIMIT:
            raise ValueError(f"cascade_delay must be between 0 and 1 day, got {self.cascade_delay}")
        for name in ("allow_alternate_methods", "paydays"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.card_caps, CardNetworkCaps):
            raise ValueError("card_caps must be a CardNetworkCaps")
        if not isinstance(self.retry_hours, LocalHours) or not isinstance(self.payday_hours, LocalHours):
            raise ValueError("retry_hours and payday_hours must be LocalHours")
        if not (
            self.retry_hours.start <= self.payday_hours.start
            and self.payday_hours.end <= self.retry_hours.end
        ):
            raise ValueError(
                f"payday_hours {self.payday_hours} must lie within retry_hours {self.retry_hours}"
            )
        self._validate_spacing()

    def _validate_spacing(self) -> None:
        spacing = self.spacing_days
        if not isinstance(spacing, tuple) or not spacing:
            raise ValueError("spacing_days must be a non-empty tuple of whole days")
        for days in spacing:
            _int_between("each of spacing_days", days, 1, WINDOW_DAYS_LIMIT)
        if any(later < earlier for earlier, later in pairwise(spacing)):
            raise ValueError(f"spacing_days must not shrink, got {spacing}")

    def spacing_after(self, retries_so_far: int) -> int:
        return self.spacing_days[min(max(retries_so_far, 0), len(self.spacing_days) - 1)]


def _enum(kind: type[_E], value: object, name: str) -> _E:
    # Members are strings too, so the API may pass either; anything else is refused by name.
    if isinstance(value, str) and value in {member.value for member in kind}:
        return kind(value)
    allowed = ", ".join(member.value for member in kind)
    raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def _int_between(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
