"""Ground-truth pay cycles: the local dates on which a simulated customer is actually paid.

Written independently of the scheduler's own payday calendar (``dunning.retry.domain.paydays``):
the simulator must be able to hold customers the heuristic guesses wrong about (a Brazilian
5th business day, a fortnightly Thursday, a gig worker paid at random).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

_SATURDAY = 5
_FRIDAY = 4


class CycleKind(StrEnum):
    WEEKLY = "weekly"  # every week on ``weekday``
    BIWEEKLY = "biweekly"  # every other week on ``weekday``; ``phase`` picks which weeks
    SEMI_MONTHLY = "semi_monthly"  # the 1st and the 15th (a weekend pays the business day before)
    MONTHLY_LAST_BUSINESS_DAY = "monthly_last_business_day"
    MONTHLY_DAY = "monthly_day"  # a fixed day of the month (``day``; weekend: business day before)
    MONTHLY_NTH_BUSINESS_DAY = "monthly_nth_business_day"  # the ``day``-th business day (Brazil: 5th)
    LISTED = "listed"  # explicit dates: irregular earners, and backtests anchored on history


@dataclass(frozen=True, slots=True)
class PayCycle:
    kind: CycleKind
    day: int = 1
    weekday: int = _FRIDAY
    phase: int = 0
    dates: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6 or self.phase not in (0, 1):
            raise ValueError(f"bad weekday {self.weekday} or phase {self.phase}")
        if (
            self.kind in (CycleKind.MONTHLY_DAY, CycleKind.MONTHLY_NTH_BUSINESS_DAY)
            and not 1 <= self.day <= 28
        ):
            raise ValueError(f"a monthly pay day is 1-28, got {self.day}")

    @property
    def label(self) -> str:
        if self.kind is CycleKind.MONTHLY_DAY:
            return f"monthly on day {self.day}"
        if self.kind is CycleKind.MONTHLY_NTH_BUSINESS_DAY:
            return f"monthly on business day {self.day}"
        if self.kind in (CycleKind.WEEKLY, CycleKind.BIWEEKLY):
            return f"{self.kind.value} on {calendar.day_name[self.weekday]}"
        return self.kind.value.replace("_", " ")

    def is_payday(self, day: date) -> bool:
        kind = self.kind
        if kind is CycleKind.LISTED:
            return day in self.dates
        if day.weekday() >= _SATURDAY:
            return False
        if kind is CycleKind.WEEKLY:
            return day.weekday() == self.weekday
        if kind is CycleKind.BIWEEKLY:
            return day.weekday() == self.weekday and (day.toordinal() // 7) % 2 == self.phase
        if kind is CycleKind.SEMI_MONTHLY:
            return any(_fixed_day_paid_on(day, fixed) for fixed in (1, 15))
        if kind is CycleKind.MONTHLY_DAY:
            return _fixed_day_paid_on(day, self.day)
        if kind is CycleKind.MONTHLY_LAST_BUSINESS_DAY:
            last = date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
            return day == _business_day_on_or_before(last)
        return day == _nth_business_day(day.year, day.month, self.day)

    def last_payday(self, on_or_before: date, after: date) -> date | None:
        """The latest payday in (``after``, ``on_or_before``]; None when there is none."""
        day = on_or_before
        while day > after:
            if self.is_payday(day):
                return day
            day -= timedelta(days=1)
        return None


def _business_day_on_or_before(day: date) -> date:
    while day.weekday() >= _SATURDAY:
        day -= timedelta(days=1)
    return day


def _fixed_day_paid_on(day: date, fixed: int) -> bool:
    # The fixed day of this month or of next month (the 1st on a weekend is paid the Friday before).
    next_year, next_month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return any(
        _business_day_on_or_before(date(year, month, fixed)) == day
        for year, month in ((day.year, day.month), (next_year, next_month))
    )


def _nth_business_day(year: int, month: int, n: int) -> date:
    day = date(year, month, 1)
    seen = 0
    while True:
        if day.weekday() < _SATURDAY:
            seen += 1
            if seen == n:
                return day
        day += timedelta(days=1)
