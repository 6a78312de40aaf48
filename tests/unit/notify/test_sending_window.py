"""Sending windows: daytime in every candidate zone, exact across DST gaps and folds."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from dunning.common.zones import candidate_zones
from dunning.notify.domain.sending_window import next_sending_time


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_night_in_tokyo_waits_for_eight_local_and_says_so() -> None:
    decision = next_sending_time(utc(2026, 3, 1, 18, 12), ["Asia/Tokyo"])

    assert decision.send_at == utc(2026, 3, 1, 23, 0)
    assert decision.note == (
        "03:12 in Asia/Tokyo is outside 08:00\u201321:00; waits until 08:00 local (2026-03-01 23:00 UTC)"
    )
    assert not decision.fallback


def test_daytime_sends_at_once() -> None:
    at = utc(2026, 3, 2, 1, 30, 15)

    decision = next_sending_time(at, ["Asia/Tokyo"])

    assert decision.send_at == at
    assert "sends now" in decision.note


def test_nine_pm_is_already_too_late() -> None:
    # The window is [08:00, 21:00): 21:00 itself is outside (12 CFR 1006.6(b)(1)(i): "before 9 p.m.").
    decision = next_sending_time(utc(2026, 1, 15, 12, 0), ["Asia/Tokyo"])

    assert decision.send_at == utc(2026, 1, 15, 23, 0)


def test_unknown_state_in_the_us_waits_for_daytime_from_new_york_to_hawaii() -> None:
    zones = candidate_zones("US", None)

    decision = next_sending_time(utc(2026, 1, 15, 8, 0), zones)

    # 08:00 in Hawaii (UTC-10) is the last to open; 21:00 in New York (UTC-5) closes at 02:00 UTC.
    assert decision.send_at == utc(2026, 1, 15, 18, 0)
    assert f"all {len(zones)} candidate zones" in decision.note


def test_us_with_guam_still_shares_an_evening_window() -> None:
    zones = [*candidate_zones("US", None), "Pacific/Guam"]

    decision = next_sending_time(utc(2026, 1, 15, 8, 0), zones)

    # Guam opens at 22:00 UTC; New York closes at 02:00 UTC.
    assert decision.send_at == utc(2026, 1, 15, 22, 0)
    assert not decision.fallback


def test_zones_that_never_agree_fall_back_to_the_first_zone() -> None:
    # Office hours in Tokyo (23:00-09:00 UTC) and New York (13:00-23:00 UTC) never overlap.
    decision = next_sending_time(utc(2026, 1, 15, 12, 0), ["Asia/Tokyo", "America/New_York"], end=time(18))

    assert decision.fallback
    assert decision.send_at == utc(2026, 1, 15, 23, 0)
    assert "never overlap" in decision.note
    assert "first zone's window" in decision.note


def test_three_zones_eight_hours_apart_share_no_daytime() -> None:
    zones = ["Europe/London", "Asia/Shanghai", "America/Los_Angeles"]

    decision = next_sending_time(utc(2026, 7, 1, 3, 0), zones)

    assert decision.fallback
    assert decision.send_at == utc(2026, 7, 1, 7, 0)  # 08:00 BST


def test_no_zone_means_utc_and_a_note() -> None:
    decision = next_sending_time(utc(2026, 1, 15, 3, 0), [])

    assert decision.send_at == utc(2026, 1, 15, 8, 0)
    assert decision.note.startswith("recipient time zone unknown: using UTC")


def test_an_unknown_zone_name_is_ignored_and_named() -> None:
    decision = next_sending_time(utc(2026, 1, 15, 3, 0), ["Mars/Olympus_Mons", "Europe/Paris"])

    assert decision.send_at == utc(2026, 1, 15, 7, 0)
    assert "'Mars/Olympus_Mons'" in decision.note


def test_a_start_time_inside_the_spring_forward_gap_opens_at_the_jump() -> None:
    # 02:30 does not exist in New York on 2026-03-08: clocks go 01:59:59 EST -> 03:00 EDT.
    decision = next_sending_time(utc(2026, 3, 8, 5, 0), ["America/New_York"], start=time(2, 30), end=time(4))

    assert decision.send_at == utc(2026, 3, 8, 7, 0)  # 03:00 EDT, the first in-window instant


def test_the_repeated_hour_of_a_fall_back_day_opens_the_window_twice() -> None:
    # 01:15-01:45 happens twice in New York on 2026-11-01: from 05:15 UTC (EDT) and 06:15 UTC (EST).
    zone = ["America/New_York"]
    window = {"start": time(1, 15), "end": time(1, 45)}

    assert next_sending_time(utc(2026, 11, 1, 5, 20), zone, **window).send_at == utc(2026, 11, 1, 5, 20)
    assert next_sending_time(utc(2026, 11, 1, 5, 50), zone, **window).send_at == utc(2026, 11, 1, 6, 15)
    assert next_sending_time(utc(2026, 11, 1, 6, 45), zone, **window).send_at == utc(2026, 11, 2, 6, 15)


def test_lord_howe_half_hour_dst_and_chatham_quarter_hours() -> None:
    # Lord Howe is UTC+11 in January; Chatham is UTC+13:45. 08:00 at both: 21:00 and 18:15 UTC.
    decision = next_sending_time(utc(2026, 1, 15, 12, 0), ["Australia/Lord_Howe", "Pacific/Chatham"])

    assert decision.send_at == utc(2026, 1, 15, 21, 0)


def test_result_is_always_utc_even_for_a_local_input() -> None:
    from zoneinfo import ZoneInfo

    at = datetime(2026, 1, 15, 3, 0, tzinfo=ZoneInfo("Asia/Tokyo"))

    decision = next_sending_time(at, ["Asia/Tokyo"])

    assert decision.send_at.tzinfo is UTC
    assert decision.send_at == datetime(2026, 1, 15, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_naive_instants_and_backwards_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_sending_time(datetime(2026, 1, 1, 12), ["UTC"])
    with pytest.raises(ValueError, match="start before end"):
        next_sending_time(utc(2026, 1, 1), ["UTC"], start=time(21), end=time(8))


def test_the_answer_is_at_most_a_week_away() -> None:
    decision = next_sending_time(utc(2026, 1, 15), ["Pacific/Kiritimati", "Pacific/Pago_Pago"])

    assert decision.send_at - utc(2026, 1, 15) < timedelta(days=2)
