"""Ground-truth pay cycles land on the days real payrolls pay."""

from __future__ import annotations

from datetime import date

import pytest

from dunning.simulation.paycycles import CycleKind, PayCycle


@pytest.mark.parametrize(
    ("cycle", "paid", "not_paid"),
    [
        # 2025-03-01 is a Saturday: the 1st is paid on Friday 28 February.
        (PayCycle(CycleKind.SEMI_MONTHLY), [date(2025, 2, 28), date(2025, 3, 14)], [date(2025, 3, 1)]),
        (PayCycle(CycleKind.MONTHLY_LAST_BUSINESS_DAY), [date(2025, 5, 30)], [date(2025, 5, 31)]),
        # The 5th business day of March 2025: Mon 3 .. Fri 7.
        (PayCycle(CycleKind.MONTHLY_NTH_BUSINESS_DAY, day=5), [date(2025, 3, 7)], [date(2025, 3, 5)]),
        (PayCycle(CycleKind.MONTHLY_DAY, day=25), [date(2025, 5, 23)], [date(2025, 5, 25)]),
        (PayCycle(CycleKind.WEEKLY, weekday=3), [date(2025, 3, 6)], [date(2025, 3, 7)]),
    ],
)
def test_paydays_follow_the_payroll_calendar(cycle: PayCycle, paid: list[date], not_paid: list[date]) -> None:
    assert all(cycle.is_payday(d) for d in paid)
    assert not any(cycle.is_payday(d) for d in not_paid)


def test_biweekly_phases_alternate_fridays() -> None:
    fridays = [date(2025, 3, 7), date(2025, 3, 14), date(2025, 3, 21), date(2025, 3, 28)]
    even, odd = PayCycle(CycleKind.BIWEEKLY, phase=0), PayCycle(CycleKind.BIWEEKLY, phase=1)
    for friday in fridays:
        assert even.is_payday(friday) != odd.is_payday(friday)
    assert [even.is_payday(f) for f in fridays] in ([True, False, True, False], [False, True, False, True])


def test_last_payday_looks_back_no_further_than_the_failure() -> None:
    weekly = PayCycle(CycleKind.WEEKLY)
    assert weekly.last_payday(date(2025, 3, 12), after=date(2025, 3, 4)) == date(2025, 3, 7)
    assert weekly.last_payday(date(2025, 3, 6), after=date(2025, 3, 4)) is None
