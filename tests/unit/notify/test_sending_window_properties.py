"""Sending-window properties over random instants, zones and windows: never early, never late."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.notify.domain.sending_window import SEARCH_HORIZON, next_sending_time

TRICKY = [
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Europe/London",
    "America/New_York",
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight/01:00
    "Africa/Casablanca",  # suspends DST for Ramadan
    "Asia/Tehran",
    "Australia/Adelaide",
    "Pacific/Guam",
    "UTC",
]
ALL_ZONES = sorted(available_timezones() - {"Factory", "localtime"})
# Instants near DST changes in both hemispheres, where the bugs live.
NEAR = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 4, 5, 0, tzinfo=UTC),
    datetime(2026, 10, 4, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
    datetime(2027, 3, 14, 7, tzinfo=UTC),
]

zone_names = st.one_of(st.sampled_from(TRICKY), st.sampled_from(ALL_ZONES))
instants = st.one_of(
    st.datetimes(datetime(2000, 1, 1), datetime(2037, 12, 31), timezones=st.just(UTC)),
    st.builds(
        lambda base, minutes: base + timedelta(minutes=minutes),
        st.sampled_from(NEAR),
        st.integers(-3 * 1440, 3 * 1440),
    ),
)


@st.composite
def windows(draw: st.DrawFn) -> tuple[time, time]:
    """Quarter-hour windows from 15 minutes to 16 hours long, anywhere in the day."""
    first = draw(st.integers(0, 94))
    last = min(first + draw(st.integers(1, 64)), 95)
    return time(first // 4, first % 4 * 15), time(last // 4, last % 4 * 15)


def fits(instant: datetime, zones: list[str], start: time, end: time) -> bool:
    return all(start <= instant.astimezone(ZoneInfo(zone)).time() < end for zone in zones)


@settings(max_examples=300, deadline=None)
@given(at=instants, zones=st.lists(zone_names, min_size=1, max_size=5), window=windows())
def test_never_before_at_always_in_window_and_never_late(
    at: datetime, zones: list[str], window: tuple[time, time]
) -> None:
    start, end = window
    decision = next_sending_time(at, zones, start=start, end=end)
    result = decision.send_at

    assert result.tzinfo is UTC
    assert result >= at
    assert result - at <= SEARCH_HORIZON
    if decision.fallback:
        assert fits(result, zones[:1], start, end)
        # "never overlap" is a promise about the whole horizon: sample it.
        step = timedelta(minutes=7)
        probes = (at + step * k for k in range(int(SEARCH_HORIZON / step)))
        assert not any(fits(probe, zones, start, end) for probe in probes)
        return
    assert fits(result, zones, start, end)
    # No earlier instant qualifies: the boundary just before, and minutes sampled across [at, result).
    if result > at:
        assert not fits(result - timedelta(seconds=1), zones, start, end)
        span = result - at
        for k in range(1, 40):
            probe = at + span * k / 40
            assert probe >= result or not fits(probe, zones, start, end)
        minute = at
        while minute < result and minute < at + timedelta(hours=2):
            assert not fits(minute, zones, start, end)
            minute += timedelta(minutes=1)


@settings(max_examples=100, deadline=None)
@given(at=instants, zones=st.lists(st.sampled_from(TRICKY), min_size=1, max_size=4))
def test_answer_does_not_change_when_asked_again_at_the_answer(at: datetime, zones: list[str]) -> None:
    first = next_sending_time(at, zones)

    again = next_sending_time(first.send_at, zones)

    assert again.send_at == first.send_at
    assert again.fallback == first.fallback


@settings(max_examples=100, deadline=None)
@given(at=instants, zone=zone_names)
def test_one_zone_always_has_a_window_within_two_days(at: datetime, zone: str) -> None:
    decision = next_sending_time(at, [zone])

    assert not decision.fallback
    assert decision.send_at - at < timedelta(days=2)
