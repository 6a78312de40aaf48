"""The customer's clock (zones, allowed hours, DST) and the payday calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dunning.retry.domain import LocalHours, payday_reasons, resolve_zone, upcoming_paydays
from dunning.retry.domain.local_time import human_duration, into_hours, local_instant

NEW_YORK = ZoneInfo("America/New_York")
DAY_HOURS = LocalHours(time(8), time(20))


@pytest.mark.parametrize(
    "name", [None, "", "   ", "Mars/Olympus_Mons", "America", "../etc/passwd", "a\x00b", "x" * 300]
)
def test_unusable_zones_fall_back_to_utc_with_a_note(name: str | None) -> None:
    zone = resolve_zone(name)
    assert zone.key == "UTC"
    assert zone.fallback_note is not None
    assert "UTC" in zone.fallback_note
    assert len(zone.fallback_note) < 120


def test_real_zone_resolves_without_a_note() -> None:
    zone = resolve_zone(" Asia/Seoul ")
    assert zone.key == "Asia/Seoul"
    assert zone.fallback_note is None


def test_into_hours_keeps_an_instant_already_inside() -> None:
    at = datetime(2025, 6, 10, 14, 0, tzinfo=UTC)  # 10:00 in New York
    assert into_hours(at, NEW_YORK, DAY_HOURS) == at


def test_into_hours_moves_early_morning_to_the_start_and_evening_to_tomorrow() -> None:
    early = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)  # 05:00 EDT
    assert into_hours(early, NEW_YORK, DAY_HOURS) == datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
    late = datetime(2025, 6, 11, 1, 0, tzinfo=UTC)  # 21:00 EDT on the 10th
    assert into_hours(late, NEW_YORK, DAY_HOURS) == datetime(2025, 6, 11, 12, 0, tzinfo=UTC)


def test_end_of_hours_is_exclusive() -> None:
    at = datetime(2025, 6, 11, 0, 0, tzinfo=UTC)  # 20:00 EDT
    assert into_hours(at, NEW_YORK, DAY_HOURS) == datetime(2025, 6, 11, 12, 0, tzinfo=UTC)


def test_start_inside_a_dst_gap_resolves_past_the_gap() -> None:
    # 2025-03-09: New York clocks jump from 02:00 EST to 03:00 EDT.
    hours = LocalHours(time(2), time(20))
    before = datetime(2025, 3, 9, 6, 0, tzinfo=UTC)  # 01:00 EST
    assert into_hours(before, NEW_YORK, hours) == datetime(2025, 3, 9, 7, 0, tzinfo=UTC)  # 03:00 EDT
    assert local_instant(date(2025, 3, 9), time(2, 30), NEW_YORK) == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)


def test_repeated_hour_resolves_to_the_first_occurrence_unless_already_past_it() -> None:
    # 2025-11-02: New York clocks fall back from 02:00 EDT to 01:00 EST.
    hours = LocalHours(time(1, 30), time(20))
    before = datetime(2025, 11, 2, 5, 0, tzinfo=UTC)  # 01:00 EDT, first pass
    assert into_hours(before, NEW_YORK, hours) == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second_pass = datetime(2025, 11, 2, 6, 10, tzinfo=UTC)  # 01:10 EST, second pass
    assert into_hours(second_pass, NEW_YORK, hours) == datetime(2025, 11, 2, 6, 30, tzinfo=UTC)  # 01:30 EST


def test_a_one_hour_span_swallowed_by_the_gap_moves_to_the_next_day() -> None:
    hours = LocalHours(time(2), time(3))
    at = datetime(2025, 3, 9, 5, 0, tzinfo=UTC)  # 00:00 EST on the gap day
    assert into_hours(at, NEW_YORK, hours) == datetime(2025, 3, 10, 6, 0, tzinfo=UTC)  # 02:00 EDT next day


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(0), "no delay"),
        (timedelta(minutes=5), "5 min"),
        (timedelta(hours=1), "1 h"),
        (timedelta(days=1), "24 h"),
        (timedelta(days=2), "2 days"),
        (timedelta(seconds=90), "90 s"),
    ],
)
def test_human_duration(span: timedelta, text: str) -> None:
    assert human_duration(span) == text


# -- paydays --------------------------------------------------------------------------------------


def test_june_2025_paydays_in_new_york() -> None:
    found = dict(upcoming_paydays(date(2025, 6, 1), date(2025, 6, 30), "America/New_York"))
    # June 1 is a Sunday: paid on Friday May 30, outside this range.
    assert sorted(found) == [
        date(2025, 6, 6),
        date(2025, 6, 13),  # Friday, and the 15th (a Sunday) is paid the Friday before
        date(2025, 6, 20),
        date(2025, 6, 27),
        date(2025, 6, 30),  # last business day (a Monday)
    ]
    assert "the 15th of the month (the 15th falls on a weekend)" in found[date(2025, 6, 13)]
    assert found[date(2025, 6, 30)] == "the last business day of the month"


def test_first_of_month_on_a_weekend_is_paid_the_friday_before() -> None:
    # 2025-06-01 is a Sunday.
    reasons = payday_reasons(date(2025, 5, 30), "America/New_York")
    assert "the 1st of the month (the 1st falls on a weekend)" in reasons
    assert "the last business day of the month" in reasons
    assert "a Friday" in reasons


def test_weekends_are_never_paydays() -> None:
    assert payday_reasons(date(2025, 3, 15), "America/New_York") == ()  # a Saturday 15th
    assert payday_reasons(date(2025, 6, 1), "America/New_York") == ()  # a Sunday 1st


def test_ordinary_midweek_day_is_not_a_payday() -> None:
    assert payday_reasons(date(2025, 6, 11), "America/New_York") == ()


def test_regional_paydays() -> None:
    assert payday_reasons(date(2025, 6, 25), "Asia/Tokyo") == ("the 25th of the month",)
    assert payday_reasons(date(2025, 6, 25), "America/New_York") == ()
    assert payday_reasons(date(2025, 6, 10), "Asia/Seoul") == ("the 10th of the month",)
    assert payday_reasons(date(2025, 6, 10), "Asia/Tokyo") == ()
