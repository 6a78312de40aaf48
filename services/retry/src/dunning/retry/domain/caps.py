"""Limits an attempt must fit: card network caps over rolling windows, and the case's attempts and window."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dunning.retry.domain.local_time import as_utc
from dunning.retry.domain.networks import card_network
from dunning.retry.domain.policy import CardNetworkCaps, NetworkCap, RetryPolicy


@dataclass(frozen=True, slots=True)
class CapCheck:
    """Whether an attempt at a given instant is allowed; if not, the earliest instant it would be."""

    allowed: bool
    # None when refused for good (no later instant helps: attempts used up, window closed).
    next_allowed_at: datetime | None
    reason: str


def check_card_caps(
    attempt_times_for_card: Sequence[datetime],
    brand: str | None,
    at: datetime,
    caps: CardNetworkCaps,
) -> CapCheck:
    """May the card be charged at ``at``, given its other attempts (all cases, all invoices)?

    An attempt at ``t`` counts against a cap while ``at - per < t``: it leaves the rolling
    window exactly ``per`` after it happened. The attempt times may include attempts planned
    after ``at`` (other cases' scheduled charges): a charge at ``at`` is allowed only if every
    rolling window that would hold it — the one ending at ``at`` and the ones ending at each
    later attempt less than ``per`` after it — stays within the cap. When refused,
    ``next_allowed_at`` is the earliest later instant that is itself allowed.
    """
    at = as_utc(at, "at")
    times = sorted(as_utc(t, "attempt time") for t in attempt_times_for_card)
    network = card_network(brand).value
    limits = caps.for_brand(brand)
    refusals = _broken_windows(times, at, limits)
    if not refusals:
        return CapCheck(True, None, f"within the {network} card caps")
    next_allowed_at = _first_allowed_after(times, at, limits)
    broken = "; ".join(_describe(window, at) for window in refusals)
    if next_allowed_at is None:  # cannot happen with caps of at least 1; kept for the type
        return CapCheck(False, None, f"{network} card cap reached: {broken}")
    return CapCheck(
        False,
        next_allowed_at,
        f"{network} card cap reached: {broken}; next allowed at {next_allowed_at:%Y-%m-%d %H:%M} UTC",
    )


@dataclass(frozen=True, slots=True)
class _Window:
    cap: NetworkCap
    ends_at: datetime
    count: int  # attempts already in it, the candidate not counted


def _broken_windows(times: Sequence[datetime], at: datetime, limits: Sequence[NetworkCap]) -> list[_Window]:
    """The windows (one per cap, the fullest) that a charge at ``at`` would take over their cap."""
    broken: list[_Window] = []
    for cap in limits:
        # Windows holding ``at`` end at ``at`` or at a later attempt less than ``per`` after it.
        ends = [at, *times[bisect_left(times, at) : bisect_left(times, at + cap.per)]]
        fullest = max(
            (
                _Window(cap, end, bisect_right(times, end) - bisect_right(times, end - cap.per))
                for end in ends
            ),
            key=lambda window: window.count,
        )
        if fullest.count >= cap.limit:
            broken.append(fullest)
    return broken


def _first_allowed_after(
    times: Sequence[datetime], at: datetime, limits: Sequence[NetworkCap]
) -> datetime | None:
    # Moving later only helps when an attempt leaves a window, i.e. at some ``t + per``; every
    # attempt has left every window by the last of those, so the search is bounded.
    candidates = sorted({t + cap.per for t in times for cap in limits if t + cap.per > at})
    return next((c for c in candidates if not _broken_windows(times, c, limits)), None)


def _describe(window: _Window, at: datetime) -> str:
    cap = window.cap
    if window.ends_at == at:
        return f"{window.count} attempts in the last {cap.window} (cap {cap})"
    return (
        f"{window.count} attempts, counting planned ones, in the {cap.window} up to "
        f"{window.ends_at:%Y-%m-%d %H:%M} UTC (cap {cap})"
    )


def check_case_limits(
    *, attempts_made: int, opened_at: datetime, at: datetime, policy: RetryPolicy
) -> CapCheck:
    """May the case make another attempt at ``at``: attempts left, and still inside its window?"""
    closes = window_closes_at(opened_at, policy)
    if attempts_made >= policy.max_attempts:
        return CapCheck(
            False,
            None,
            f"all {policy.max_attempts} attempts allowed by the policy are used ({attempts_made} made)",
        )
    if as_utc(at, "at") >= closes:
        return CapCheck(
            False,
            None,
            f"the {policy.window_days}-day retry window closed at {closes:%Y-%m-%d %H:%M} UTC",
        )
    return CapCheck(
        True,
        None,
        f"attempt {attempts_made + 1} of {policy.max_attempts}, "
        f"inside the {policy.window_days}-day window (closes {closes:%Y-%m-%d %H:%M} UTC)",
    )


def window_closes_at(opened_at: datetime, policy: RetryPolicy) -> datetime:
    """The first instant outside the case's retry window."""
    return as_utc(opened_at, "opened_at") + timedelta(days=policy.window_days)
