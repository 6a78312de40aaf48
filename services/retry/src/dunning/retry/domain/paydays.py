"""A payday calendar: the local dates on which a customer short of money is most likely to have it again.

Paydays are business days (Monday-Friday; public holidays are not modelled): every Friday
(weekly and bi-weekly payroll), the 1st and the 15th (semi-monthly payroll), the last business
day of the month (monthly payroll), and regional customs. A fixed payday that falls on a
weekend is paid on the business day before, as payroll usually is. Learned outcomes refine this.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

_FRIDAY = 4
_SATURDAY = 5

# The 25th is the customary monthly payday in Japan (給料日) and, with the 10th, in Korea.
_REGIONAL_PAY_DAYS: dict[str, tuple[int, ...]] = {
    "Asia/Tokyo": (25,),
    "Asia/Seoul": (10, 25),
}
_COMMON_PAY_DAYS = (1, 15)


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _is_business_day(day: date) -> bool:
    return day.weekday() < _SATURDAY


def _business_day_on_or_before(day: date) -> date:
    while not _is_business_day(day):
        day -= timedelta(days=1)
    return day


def _last_business_day(year: int, month: int) -> date:
    return _business_day_on_or_before(date(year, month, calendar.monthrange(year, month)[1]))


def pay_days_of_month(zone_key: str) -> tuple[int, ...]:
    """The fixed days of the month treated as paydays for a customer in ``zone_key``."""
    return tuple(sorted({*_COMMON_PAY_DAYS, *_REGIONAL_PAY_DAYS.get(zone_key, ())}))


def payday_reasons(day: date, zone_key: str) -> tuple[str, ...]:
    """Why ``day`` is a likely payday for a customer in ``zone_key``; empty when it is not one."""
    if not _is_business_day(day):
        return ()
    reasons: list[str] = []
    for pay_day in pay_days_of_month(zone_key):
        # The 1st is paid the business day before when it falls on a weekend, which may be
        # in the previous month; so look at this month's and next month's fixed day.
        for year, month in ((day.year, day.month), _next_month(day.year, day.month)):
            if pay_day > calendar.monthrange(year, month)[1]:
                continue
            fixed = date(year, month, pay_day)
            if _business_day_on_or_before(fixed) == day:
                shifted = "" if fixed == day else f" (the {_ordinal(pay_day)} falls on a weekend)"
                reasons.append(f"the {_ordinal(pay_day)} of the month{shifted}")
    if day == _last_business_day(day.year, day.month):
        reasons.append("the last business day of the month")
    if day.weekday() == _FRIDAY:
        reasons.append("a Friday")
    return tuple(reasons)


def upcoming_paydays(first: date, last: date, zone_key: str) -> list[tuple[date, str]]:
    """Paydays from ``first`` to ``last`` inclusive, each with a human reason."""
    found: list[tuple[date, str]] = []
    day = first
    while day <= last:
        reasons = payday_reasons(day, zone_key)
        if reasons:
            found.append((day, " and ".join(reasons)))
        day += timedelta(days=1)
    return found


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)
