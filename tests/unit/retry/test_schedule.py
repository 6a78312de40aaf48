"""Fixed-clock schedule: paydays, transient faults, spacing, waits, hours, DST, stops, cascades."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dunning.retry.domain import (
    AttemptHistory,
    AttemptOutcome,
    DeclineAdvice,
    EndAction,
    LocalHours,
    OutcomeStats,
    PastAttempt,
    RetryMode,
    RetryPolicy,
    Slot,
    Stop,
    StoredMethod,
    classify_decline,
    next_attempt_slot,
)

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
SEOUL = ZoneInfo("Asia/Seoul")
CARD = "pm_card"


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in ``zone``, as the UTC instant the scheduler deals in."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def declined(
    at: datetime, code: str, *, method: str = CARD, brand: str = "visa", mac: str | None = None
) -> PastAttempt:
    advice = classify_decline(decline_code=code, network_advice_code=mac, card_brand=brand)
    return PastAttempt(at=at, method_id=method, card_brand=brand, advice=advice)


def plan(
    history: Sequence[PastAttempt],
    *,
    now: datetime | None = None,
    opened_at: datetime | None = None,
    advice: DeclineAdvice | None = None,
    policy: RetryPolicy | None = None,
    tz: str | None = "America/New_York",
    stats: OutcomeStats | None = None,
    card_attempt_times: dict[str, Sequence[datetime]] | None = None,
    methods: Sequence[StoredMethod] = (),
) -> Slot | Stop:
    attempts = AttemptHistory(tuple(history))
    assert attempts.last is not None
    return next_attempt_slot(
        now=now or attempts.last.at,
        opened_at=opened_at or attempts.attempts[0].at,
        history=attempts,
        advice=advice or attempts.last.advice,
        policy=policy or RetryPolicy(),
        customer_tz=tz,
        stats=stats,
        card_attempt_times=card_attempt_times,
        methods=methods,
    )


def slot(outcome: Slot | Stop) -> Slot:
    assert isinstance(outcome, Slot), outcome
    return outcome


def stop(outcome: Slot | Stop) -> Stop:
    assert isinstance(outcome, Stop), outcome
    return outcome


# -- insufficient funds: paydays --------------------------------------------------------------------


def test_insufficient_funds_on_tuesday_the_10th_aims_at_friday_morning_in_new_york() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)  # Tuesday
    result = slot(plan([declined(failed, "insufficient_funds")]))
    # Friday the 13th: a Friday, and the 15th is a Sunday so it is paid that Friday too.
    assert result.due_at == local(NEW_YORK, 2025, 6, 13, 8) == utc(2025, 6, 13, 12)
    assert result.method_id == CARD
    assert result.attempt_number == 2
    assert "payday" in result.reason
    assert "a Friday" in result.reason
    assert "Fri 2025-06-13 08:00 America/New_York" in result.reason


def test_insufficient_funds_aims_at_the_first_of_next_month() -> None:
    failed = local(NEW_YORK, 2025, 8, 29, 15)  # Friday, also the month's last business day
    result = slot(plan([declined(failed, "insufficient_funds")]))
    assert result.due_at == local(NEW_YORK, 2025, 9, 1, 8)  # Monday the 1st
    assert "the 1st of the month" in result.reason


def test_payday_retry_never_lands_on_the_day_of_the_failure() -> None:
    failed = local(NEW_YORK, 2025, 6, 13, 7)  # a payday, before the payday morning
    result = slot(plan([declined(failed, "insufficient_funds")]))
    assert result.due_at == local(NEW_YORK, 2025, 6, 20, 8)  # next Friday


def test_tokyo_customer_gets_the_25th() -> None:
    failed = local(TOKYO, 2025, 6, 23, 10)  # Monday
    result = slot(plan([declined(failed, "insufficient_funds")], tz="Asia/Tokyo"))
    assert result.due_at == local(TOKYO, 2025, 6, 25, 8) == utc(2025, 6, 24, 23)
    assert "the 25th of the month" in result.reason
    assert "Asia/Tokyo" in result.reason


def test_seoul_customer_gets_the_10th() -> None:
    failed = local(SEOUL, 2025, 6, 9, 14)  # Monday
    result = slot(plan([declined(failed, "insufficient_funds")], tz="Asia/Seoul"))
    assert result.due_at == local(SEOUL, 2025, 6, 10, 8) == utc(2025, 6, 9, 23)
    assert "the 10th of the month" in result.reason


def test_paydays_off_falls_back_to_spacing() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    result = slot(plan([declined(failed, "insufficient_funds")], policy=RetryPolicy(paydays=False)))
    assert result.due_at == local(NEW_YORK, 2025, 6, 11, 14)
    assert "payday timing is off" in result.reason


def test_no_payday_before_the_window_closes_falls_back_to_spacing() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    result = slot(plan([declined(failed, "insufficient_funds")], policy=RetryPolicy(window_days=2)))
    assert result.due_at == local(NEW_YORK, 2025, 6, 11, 14)
    assert "no payday before the window closes" in result.reason


# -- transient errors -------------------------------------------------------------------------------


def test_transient_error_retries_two_hours_later() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    result = slot(plan([declined(failed, "processing_error")]))
    assert result.due_at == failed + timedelta(hours=2)
    assert "transient failure 1 in a row" in result.reason
    assert "2 h after the decline" in result.reason


def test_second_transient_error_waits_four_hours_and_respects_the_evening() -> None:
    first = local(NEW_YORK, 2025, 6, 10, 14)
    second = local(NEW_YORK, 2025, 6, 10, 16)
    result = slot(plan([declined(first, "issuer_not_available"), declined(second, "try_again_later")]))
    # 16:00 + 4 h is 20:00, the end of the allowed hours: the next morning instead.
    assert result.due_at == local(NEW_YORK, 2025, 6, 11, 8)
    assert "transient failure 2 in a row" in result.reason


def test_fourth_transient_error_is_spaced_out() -> None:
    start = local(NEW_YORK, 2025, 6, 10, 9)
    history = [declined(start + timedelta(hours=3 * i), "processing_error") for i in range(4)]
    result = slot(plan(history))
    # Four attempts on the card so far: the fourth spacing step, 5 days.
    assert result.due_at == local(NEW_YORK, 2025, 6, 15, 18)
    assert "4 transient failures in a row" in result.reason


# -- growing spacing --------------------------------------------------------------------------------


def test_spacing_grows_and_the_window_ends_it() -> None:
    policy = RetryPolicy(end_action=EndAction.MARK_UNCOLLECTIBLE)
    history = [declined(local(NEW_YORK, 2025, 6, 10, 14), "do_not_honor")]
    due_dates = []
    while True:
        outcome = plan(history, policy=policy)
        if isinstance(outcome, Stop):
            break
        due_dates.append(outcome.due_at)
        history.append(declined(outcome.due_at, "do_not_honor"))
    assert due_dates == [
        local(NEW_YORK, 2025, 6, 11, 14),  # +1 day
        local(NEW_YORK, 2025, 6, 13, 14),  # +2
        local(NEW_YORK, 2025, 6, 16, 14),  # +3
        local(NEW_YORK, 2025, 6, 21, 14),  # +5
        local(NEW_YORK, 2025, 6, 28, 14),  # +7; another 7 would pass the 21-day window
    ]
    assert outcome.end_action is EndAction.MARK_UNCOLLECTIBLE
    assert outcome.end_at == local(NEW_YORK, 2025, 7, 1, 14)
    assert "fits before the window closes" in outcome.reason


def test_spaced_retry_after_a_night_failure_moves_into_the_morning() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 3)
    result = slot(plan([declined(failed, "generic_decline")]))
    assert result.due_at == local(NEW_YORK, 2025, 6, 11, 8)


# -- advised waits --------------------------------------------------------------------------------


def test_mastercard_retry_after_8_days_is_honoured() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    result = slot(plan([declined(failed, "do_not_honor", brand="mastercard", mac="29")]))
    assert result.due_at == local(NEW_YORK, 2025, 6, 18, 14)
    assert "waiting at least 8 days after the decline as advised" in result.reason


def test_advised_wait_pushes_a_payday_to_the_next_one() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)  # Tuesday; 4 days later is Saturday the 14th
    result = slot(plan([declined(failed, "insufficient_funds", brand="mastercard", mac="27")]))
    assert result.due_at == local(NEW_YORK, 2025, 6, 20, 8)
    assert "payday" in result.reason


def test_advised_one_hour_wait_does_not_shorten_the_schedule() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    result = slot(plan([declined(failed, "do_not_honor", brand="mastercard", mac="24")]))
    assert result.due_at == local(NEW_YORK, 2025, 6, 11, 14)


# -- local hours ----------------------------------------------------------------------------------


def test_tenant_quiet_hours_are_respected() -> None:
    policy = RetryPolicy(
        retry_hours=LocalHours(time(10), time(16)), payday_hours=LocalHours(time(10), time(12))
    )
    failed = local(NEW_YORK, 2025, 6, 10, 15)
    result = slot(plan([declined(failed, "processing_error")], policy=policy))
    assert result.due_at == local(NEW_YORK, 2025, 6, 11, 10)


def test_payday_hours_follow_the_policy() -> None:
    policy = RetryPolicy(payday_hours=LocalHours(time(9, 30), time(11)))
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    result = slot(plan([declined(failed, "insufficient_funds")], policy=policy))
    assert result.due_at == local(NEW_YORK, 2025, 6, 13, 9, 30)


def test_unknown_time_zone_uses_utc_and_says_so() -> None:
    failed = utc(2025, 6, 10, 22)
    result = slot(plan([declined(failed, "processing_error")], tz="Mars/Olympus_Mons"))
    # 00:00 UTC is outside 08:00-20:00 UTC.
    assert result.due_at == utc(2025, 6, 11, 8)
    assert "time zone 'Mars/Olympus_Mons' is not a known IANA zone: using UTC" in result.reason


def test_missing_time_zone_uses_utc_and_says_so() -> None:
    result = slot(plan([declined(utc(2025, 6, 10, 12), "processing_error")], tz=None))
    assert result.due_at == utc(2025, 6, 10, 14)
    assert "customer time zone unknown: using UTC" in result.reason


# -- DST -----------------------------------------------------------------------------------------


def test_a_day_later_keeps_the_wall_clock_across_spring_forward() -> None:
    failed = local(NEW_YORK, 2025, 3, 8, 15)  # Saturday 15:00 EST = 20:00 UTC
    result = slot(plan([declined(failed, "do_not_honor")]))
    assert result.due_at == local(NEW_YORK, 2025, 3, 9, 15) == utc(2025, 3, 9, 19)  # 15:00 EDT


def test_a_day_later_keeps_the_wall_clock_across_fall_back() -> None:
    failed = local(NEW_YORK, 2025, 11, 1, 15)  # Saturday 15:00 EDT = 19:00 UTC
    result = slot(plan([declined(failed, "do_not_honor")]))
    assert result.due_at == utc(2025, 11, 2, 20)  # Sunday 15:00 EST


def test_hours_starting_in_the_spring_gap_start_after_it() -> None:
    policy = RetryPolicy(
        retry_hours=LocalHours(time(2), time(20)), payday_hours=LocalHours(time(8), time(11))
    )
    failed = utc(2025, 3, 9, 4)  # Saturday 23:00 EST
    result = slot(plan([declined(failed, "processing_error")], policy=policy))
    # +2 h is 01:00 EST, before 02:00, and 02:00 does not exist that night: 03:00 EDT.
    assert result.due_at == utc(2025, 3, 9, 7)


def test_hours_starting_in_the_repeated_hour_take_its_first_pass() -> None:
    policy = RetryPolicy(
        retry_hours=LocalHours(time(1, 30), time(20)), payday_hours=LocalHours(time(8), time(11))
    )
    failed = utc(2025, 11, 2, 3)  # Saturday 23:00 EDT
    result = slot(plan([declined(failed, "processing_error")], policy=policy))
    # +2 h is 01:00 EDT; 01:30 happens twice that night, first as EDT.
    assert result.due_at == utc(2025, 11, 2, 5, 30)


def test_payday_on_the_morning_after_spring_forward() -> None:
    failed = local(NEW_YORK, 2025, 3, 7, 12)  # Friday before the change
    result = slot(plan([declined(failed, "insufficient_funds")]))
    assert result.due_at == utc(2025, 3, 14, 12)  # Friday 08:00 EDT


# -- stops ----------------------------------------------------------------------------------------


def test_window_end_stops_with_the_end_action() -> None:
    policy = RetryPolicy(window_days=21, end_action=EndAction.CANCEL_SUBSCRIPTION)
    opened = utc(2025, 6, 1, 12)
    now = utc(2025, 6, 22, 12)
    result = stop(
        plan([declined(utc(2025, 6, 20, 12), "do_not_honor")], now=now, opened_at=opened, policy=policy)
    )
    assert result.end_action is EndAction.CANCEL_SUBSCRIPTION
    assert result.end_at == now
    assert "21-day retry window closed at 2025-06-22 12:00 UTC" in result.reason


def test_max_attempts_stops_with_the_end_action() -> None:
    policy = RetryPolicy(max_attempts=3, end_action=EndAction.MARK_UNCOLLECTIBLE)
    start = utc(2025, 6, 1, 14)
    history = [declined(start + timedelta(days=i), "do_not_honor") for i in range(3)]
    result = stop(plan(history, policy=policy))
    assert result.end_action is EndAction.MARK_UNCOLLECTIBLE
    assert result.end_at == history[-1].at
    assert "all 3 attempts allowed by the policy are used" in result.reason


def test_last_allowed_attempt_is_still_scheduled() -> None:
    policy = RetryPolicy(max_attempts=3)
    start = local(NEW_YORK, 2025, 6, 2, 14)
    history = [declined(start + timedelta(days=i), "do_not_honor") for i in range(2)]
    assert slot(plan(history, policy=policy)).attempt_number == 3


def test_observe_mode_never_schedules() -> None:
    result = stop(
        plan([declined(utc(2025, 6, 1), "insufficient_funds")], policy=RetryPolicy(mode=RetryMode.OBSERVE))
    )
    assert result.end_action is None
    assert result.end_at is None
    assert "observe mode" in result.reason


def test_never_decline_stops_without_consent_for_other_methods() -> None:
    failed = utc(2025, 6, 10, 12)
    backup = StoredMethod("pm_backup", "card", "visa", 12, 2030, True, utc(2025, 1, 1))
    result = stop(plan([declined(failed, "stolen_card")], methods=[backup]))
    assert "stolen_card" in result.reason
    assert "must not be charged again" in result.reason
    assert "not allowed charging other stored methods" in result.reason
    assert result.end_at == failed + timedelta(days=21)
    assert result.end_action is EndAction.LEAVE_PAST_DUE


def test_unknown_code_stops_after_its_conservative_cap() -> None:
    start = local(NEW_YORK, 2025, 6, 2, 14)
    history = [declined(start + timedelta(days=i), "mystery_code") for i in range(4)]
    result = stop(plan(history))
    assert "already had the 3 retries allowed for this code" in result.reason
    assert isinstance(plan(history[:3]), Slot)


# -- cascades -------------------------------------------------------------------------------------


def _methods() -> list[StoredMethod]:
    return [
        StoredMethod(CARD, "card", "visa", 12, 2030, True, utc(2024, 1, 1)),
        StoredMethod("pm_old", "card", "visa", 1, 2026, False, utc(2024, 6, 1)),
        StoredMethod("pm_new", "card", "mastercard", 5, 2029, False, utc(2025, 5, 1)),
        StoredMethod("pm_expired", "card", "visa", 5, 2025, False, utc(2025, 5, 20)),
    ]


@pytest.mark.parametrize("delay", [timedelta(0), timedelta(minutes=5), timedelta(hours=1)])
def test_never_decline_cascades_to_the_newest_alternate_after_the_delay(delay: timedelta) -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 3)  # at night: a cascade continues the same payment
    policy = RetryPolicy(allow_alternate_methods=True, cascade_delay=delay)
    result = slot(plan([declined(failed, "lost_card")], policy=policy, methods=_methods()))
    assert result.method_id == "pm_new"
    assert result.due_at == failed + delay
    assert "cascading to the customer's mastercard card pm_new" in result.reason
    assert ("at once" in result.reason) is (delay == timedelta(0))


def test_customer_action_decline_cascades_too() -> None:
    failed = utc(2025, 6, 10, 12)
    policy = RetryPolicy(allow_alternate_methods=True)
    result = slot(
        plan([declined(failed, "expired_card", method="pm_new")], policy=policy, methods=_methods())
    )
    assert result.method_id == CARD  # the default comes first
    assert result.due_at == failed + timedelta(minutes=5)


def test_cascade_stops_when_only_expired_or_dead_methods_remain() -> None:
    failed = utc(2025, 6, 10, 12)
    policy = RetryPolicy(allow_alternate_methods=True)
    history = [
        declined(failed - timedelta(days=2), "stolen_card", method="pm_new", brand="mastercard"),
        declined(failed - timedelta(days=1), "fraudulent", method="pm_old"),
        declined(failed, "lost_card"),
    ]
    result = stop(plan(history, policy=policy, methods=_methods()))
    assert "no other stored method can be charged" in result.reason
    assert result.end_at == history[0].at + timedelta(days=21)


def test_a_soft_decline_after_a_cascade_retries_the_alternate_on_schedule() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    policy = RetryPolicy(allow_alternate_methods=True)
    history = [
        declined(failed, "stolen_card"),
        declined(failed + timedelta(minutes=5), "insufficient_funds", method="pm_new", brand="mastercard"),
    ]
    result = slot(plan(history, policy=policy, methods=_methods()))
    assert result.method_id == "pm_new"
    assert result.due_at == local(NEW_YORK, 2025, 6, 13, 8)


def test_a_card_updated_after_its_decline_gets_another_try() -> None:
    failed = utc(2025, 6, 10, 12)
    updated = StoredMethod(
        CARD, "card", "visa", 12, 2031, True, utc(2024, 1, 1), updated_at=utc(2025, 6, 11, 9)
    )
    now = utc(2025, 6, 11, 9, 1)
    result = slot(plan([declined(failed, "expired_card")], now=now, methods=[updated]))
    assert result.method_id == CARD
    assert result.due_at == now + timedelta(minutes=5)
    assert "changed after that decline" in result.reason


def test_a_card_updated_before_its_decline_stays_blocked() -> None:
    failed = utc(2025, 6, 10, 12)
    stale = StoredMethod(CARD, "card", "visa", 12, 2031, True, utc(2024, 1, 1), updated_at=utc(2025, 6, 1))
    assert isinstance(plan([declined(failed, "expired_card")], methods=[stale]), Stop)


# -- card caps in the schedule ------------------------------------------------------------------------


def test_mastercard_daily_cap_moves_the_retry_to_the_next_morning() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)  # 18:00 UTC
    other_cases = [utc(2025, 6, 10, h) for h in range(9)]  # 00:00-08:00 UTC
    result = slot(
        plan(
            [declined(failed, "processing_error", brand="mastercard")],
            card_attempt_times={CARD: [*other_cases, failed]},
        )
    )
    # Ten attempts in 24 h until 2025-06-11 00:00 UTC (20:00 EDT, after hours): next morning.
    assert result.due_at == local(NEW_YORK, 2025, 6, 11, 8)
    assert "mastercard card cap reached" in result.reason


def test_visa_monthly_cap_pushes_past_the_oldest_attempt() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    earlier = [failed - timedelta(days=28) + timedelta(days=2 * i) for i in range(14)]
    result = slot(plan([declined(failed, "do_not_honor")], card_attempt_times={CARD: earlier}))
    # 15 attempts in 30 days; the oldest (2025-05-13 14:00 EDT) leaves on 2025-06-12 14:00 EDT.
    assert result.due_at == local(NEW_YORK, 2025, 6, 12, 14)
    assert "15 attempts in the last 30 days" in result.reason


def test_cap_beyond_the_window_ends_in_a_stop() -> None:
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    earlier = [failed - timedelta(hours=i + 1) for i in range(14)]
    policy = RetryPolicy(window_days=5)
    result = stop(plan([declined(failed, "do_not_honor")], card_attempt_times={CARD: earlier}, policy=policy))
    assert "which is after the window closes" in result.reason


# -- learning -----------------------------------------------------------------------------------------


def _tenant_history() -> list[AttemptOutcome]:
    """A tenant whose insufficient-funds retries work on the 1st and rarely otherwise."""
    outcomes: list[AttemptOutcome] = []
    for month in range(1, 13):
        for day, wins in ((1, 6), (15, 1), (20, 1), (26, 1)):
            at = datetime(2026, month, day, 9, tzinfo=NEW_YORK)
            outcomes += [
                AttemptOutcome(at, i < wins, "insufficient_funds", 2, "America/New_York") for i in range(10)
            ]
    return outcomes


def test_learning_prefers_the_first_over_the_fifteenth() -> None:
    failed = local(NEW_YORK, 2027, 2, 12, 14)  # Friday; next: Mon 15th, Fri 19th, Fri 26th, Mon 1 March
    history = [declined(failed, "insufficient_funds")]
    heuristic = slot(plan(history))
    assert heuristic.due_at == local(NEW_YORK, 2027, 2, 15, 8)
    learned = slot(plan(history, stats=OutcomeStats.from_outcomes(_tenant_history())))
    assert learned.due_at.astimezone(NEW_YORK).date().isoformat() == "2027-03-01"
    assert learned.success_probability is not None
    assert learned.success_probability > 0.3
    assert "learned from 480 outcomes, chose the best of" in learned.reason
    assert "day_of_month 1 +" in learned.reason


def test_learning_with_no_data_keeps_the_heuristic_slot() -> None:
    failed = local(NEW_YORK, 2027, 2, 12, 14)
    history = [declined(failed, "insufficient_funds")]
    learned = slot(plan(history, stats=OutcomeStats.from_outcomes([])))
    assert learned.due_at == local(NEW_YORK, 2027, 2, 15, 8)
    assert learned.success_probability == pytest.approx(0.15)
    assert "the earliest slot is also the best" in learned.reason


def test_learning_picks_the_best_hour_for_a_transient_retry() -> None:
    outcomes = [
        AttemptOutcome(
            datetime(2026, 1, d, h, tzinfo=NEW_YORK), h == 19, "processing_error", 2, "America/New_York"
        )
        for d in range(1, 29)
        for h in (16, 17, 18, 19)
    ]
    failed = local(NEW_YORK, 2025, 6, 10, 14)
    result = slot(plan([declined(failed, "processing_error")], stats=OutcomeStats.from_outcomes(outcomes)))
    assert result.due_at == local(NEW_YORK, 2025, 6, 10, 19)
    assert "hour 19 +" in result.reason
