"""Limits an attempt must fit: card network caps over rolling windows, and the case's attempts and window."""

from __future__ import annotations

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
    """May the card be charged at ``at``, given its earlier attempts (all cases, all invoices)?

    An attempt at ``t`` counts against a cap while ``at - per < t``: it leaves the rolling
    window exactly ``per`` after it happened. Attempt times are expected at or before ``at``.
    """
    at = as_utc(at, "at")
    times = sorted(as_utc(t, "attempt time") for t in attempt_times_for_card)
    network = card_network(brand).value
    refusals: list[tuple[datetime, NetworkCap, int]] = []
    for cap in caps.for_brand(brand):
        in_window = [t for t in times if t > at - cap.per]
        if len(in_window) >= cap.limit:
            # The (len - limit)-th oldest is the one whose departure brings the count under the cap.
            refusals.append((in_window[len(in_window) - cap.limit] + cap.per, cap, len(in_window)))
    if not refusals:
        return CapCheck(True, None, f"within the {network} card caps")
    next_allowed_at = max(when for when, _, _ in refusals)
    broken = "; ".join(f"{count} attempts in the last {cap.window} (cap {cap})" for _, cap, count in refusals)
    return CapCheck(
        False,
        next_allowed_at,
        f"{network} card cap reached: {broken}; next allowed at {next_allowed_at:%Y-%m-%d %H:%M} UTC",
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
