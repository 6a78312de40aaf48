"""When to retry a soft decline on the same method: candidate instants for paydays, transient faults, spacing.

Each plan lists candidates in time order inside the customer's allowed local hours; the first
is the heuristic's choice, the rest are the span a learner may pick from instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from dunning.retry.domain.decline_codes import RetryTiming
from dunning.retry.domain.local_time import (
    CustomerZone,
    LocalHours,
    human_duration,
    into_hours,
    local_date,
    local_instant,
)
from dunning.retry.domain.paydays import upcoming_paydays
from dunning.retry.domain.policy import RetryPolicy

# A processor or issuer fault usually clears within hours; the second and third in a row get
# longer, and a fourth means it is not transient after all.
TRANSIENT_DELAYS = (timedelta(hours=2), timedelta(hours=4), timedelta(hours=6))
TRANSIENT_SPREAD_HOURS = 4
# 16 days always reach the next 1st or 15th and usually both, so learning can weigh them;
# looking further would trade away attempts for a slightly likelier day.
PAYDAY_HORIZON = timedelta(days=16)
# A learner may delay a spaced retry by up to its own spacing, but not by more than a week.
SPACED_SPREAD_LIMIT_DAYS = 7


@dataclass(frozen=True, slots=True)
class Candidate:
    at: datetime
    # What makes this instant special beyond the plan's rule (a payday and why), if anything.
    why: str = ""


@dataclass(frozen=True, slots=True)
class RetryPlan:
    rule: str
    candidates: tuple[Candidate, ...]


def plan_retry(
    *,
    timing: RetryTiming,
    failed_at: datetime,
    earliest: datetime,
    closes: datetime,
    zone: CustomerZone,
    policy: RetryPolicy,
    transient_streak: int,
    retries_of_method: int,
) -> RetryPlan:
    """Candidates at or after ``earliest`` and before ``closes`` for one more try of the same method."""
    if timing is RetryTiming.SOON:
        if transient_streak <= len(TRANSIENT_DELAYS):
            return _transient(failed_at, earliest, closes, zone, policy, max(transient_streak, 1))
        note = f"{transient_streak} transient failures in a row, so no longer treated as transient"
        return _spaced(failed_at, earliest, closes, zone, policy, retries_of_method, note)
    if timing is RetryTiming.PAYDAY:
        if not policy.paydays:
            return _spaced(
                failed_at, earliest, closes, zone, policy, retries_of_method, "payday timing is off"
            )
        plan = _payday(failed_at, earliest, closes, zone, policy)
        if plan.candidates:
            return plan
        return _spaced(
            failed_at, earliest, closes, zone, policy, retries_of_method, "no payday before the window closes"
        )
    return _spaced(failed_at, earliest, closes, zone, policy, retries_of_method, None)


def _transient(
    failed_at: datetime,
    earliest: datetime,
    closes: datetime,
    zone: CustomerZone,
    policy: RetryPolicy,
    streak: int,
) -> RetryPlan:
    delay = TRANSIENT_DELAYS[streak - 1]
    target = max(earliest, failed_at + delay)
    hours = human_duration(delay)
    instants = [target + timedelta(hours=k) for k in range(TRANSIENT_SPREAD_HOURS + 1)]
    rule = f"transient failure {streak} in a row: retrying within hours, {hours} after the decline"
    return RetryPlan(rule, _in_hours(instants, zone, policy.retry_hours, closes))


def _payday(
    failed_at: datetime, earliest: datetime, closes: datetime, zone: CustomerZone, policy: RetryPolicy
) -> RetryPlan:
    # The day of the failure is out even if it is a payday: the money was not there.
    first = max(local_date(failed_at, zone.zone) + timedelta(days=1), local_date(earliest, zone.zone))
    found: list[Candidate] = []
    for day, why in upcoming_paydays(first, first + PAYDAY_HORIZON, zone.key):
        for wall in _walls(policy.payday_hours):
            at = into_hours(local_instant(day, wall, zone.zone), zone.zone, policy.retry_hours)
            if earliest <= at < closes and local_date(at, zone.zone) == day:
                found.append(Candidate(at, f"a likely payday: {why}"))
    rule = f"missing funds: aiming at a likely payday, {policy.payday_hours} customer local time"
    return RetryPlan(rule, _unique_sorted(found))


def _spaced(
    failed_at: datetime,
    earliest: datetime,
    closes: datetime,
    zone: CustomerZone,
    policy: RetryPolicy,
    retries_of_method: int,
    note: str | None,
) -> RetryPlan:
    days = policy.spacing_after(retries_of_method)
    local_failed = failed_at.astimezone(zone.zone)
    # Calendar days in the customer's zone, so "a day later" keeps the wall-clock time across DST.
    target = local_instant(local_failed.date() + timedelta(days=days), local_failed.time(), zone.zone)
    target = into_hours(max(target, earliest), zone.zone, policy.retry_hours)
    instants = [target]
    first_day = local_date(target, zone.zone)
    for offset in range(min(days, SPACED_SPREAD_LIMIT_DAYS) + 1):
        for wall in _walls(policy.retry_hours):
            instants.append(local_instant(first_day + timedelta(days=offset), wall, zone.zone))
    plural = "day" if days == 1 else "days"
    rule = f"growing spacing: retry {retries_of_method + 1} of this method, {days} {plural} after the decline"
    if note:
        rule = f"{note}; {rule}"
    return RetryPlan(rule, _in_hours([t for t in instants if t >= target], zone, policy.retry_hours, closes))


def _walls(hours: LocalHours) -> list[time]:
    walls: list[time] = []
    minutes = hours.start.hour * 60 + hours.start.minute
    end = hours.end.hour * 60 + hours.end.minute
    while minutes < end:
        walls.append(time(minutes // 60, minutes % 60))
        minutes += 60
    return walls


def _in_hours(
    instants: list[datetime], zone: CustomerZone, hours: LocalHours, closes: datetime
) -> tuple[Candidate, ...]:
    moved = (into_hours(t, zone.zone, hours) for t in instants)
    return _unique_sorted([Candidate(t) for t in moved if t < closes])


def _unique_sorted(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    first_by_instant: dict[datetime, Candidate] = {}
    for candidate in candidates:
        first_by_instant.setdefault(candidate.at, candidate)
    return tuple(sorted(first_by_instant.values(), key=lambda c: c.at))
