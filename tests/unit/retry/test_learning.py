"""Learning from outcomes: priors with no data, smoothing, caps, monotonicity in evidence."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.retry.domain import AttemptOutcome, LearningPrior, OutcomeStats, SlotFeatures

TOKYO = ZoneInfo("Asia/Tokyo")


def _features(day: int, *, weekday: int = 2, hour: int = 9, code: str = "insufficient_funds") -> SlotFeatures:
    return SlotFeatures(day_of_month=day, weekday=weekday, hour=hour, decline_code=code, attempt_number=2)


def _outcomes(day: int, *, tries: int, wins: int, hour: int = 9) -> list[AttemptOutcome]:
    at = datetime(2025, 1, day, hour, tzinfo=UTC)
    return [
        AttemptOutcome(at=at, succeeded=i < wins, decline_code="insufficient_funds", attempt_number=2)
        for i in range(tries)
    ]


def test_with_no_data_every_slot_gets_the_prior() -> None:
    stats = OutcomeStats.from_outcomes([])
    assert stats.base_rate() == 0.15
    for day in (1, 15, 28):
        assert stats.success_probability(_features(day)) == 0.15
    estimate = stats.estimate(_features(1))
    assert all(lift == 0.0 for _, _, lift in estimate.lifts)
    assert "15% expected success" in estimate.explain()
    assert "no feature moved it" in estimate.explain()


def test_custom_prior_is_used_with_no_data() -> None:
    stats = OutcomeStats.from_outcomes([], prior=LearningPrior(success_rate=0.3))
    assert stats.success_probability(_features(1)) == 0.3


def test_base_rate_shrinks_toward_the_prior() -> None:
    stats = OutcomeStats.from_outcomes(_outcomes(3, tries=50, wins=50))
    # 50 real successes against 50 pseudo-attempts at 15%: halfway between 1.0 and 0.15.
    assert stats.base_rate() == pytest.approx(0.575)


def test_successes_on_the_first_beat_the_fifteenth() -> None:
    outcomes = _outcomes(1, tries=40, wins=20) + _outcomes(15, tries=40, wins=2)
    stats = OutcomeStats.from_outcomes(outcomes)
    first, fifteenth = stats.success_probability(_features(1)), stats.success_probability(_features(15))
    assert first > fifteenth
    explained = stats.estimate(_features(1)).explain()
    assert "day_of_month 1 +" in explained


def test_one_lucky_success_does_not_dominate() -> None:
    outcomes = (
        _outcomes(1, tries=100, wins=30) + _outcomes(15, tries=100, wins=10) + _outcomes(7, tries=1, wins=1)
    )
    stats = OutcomeStats.from_outcomes(outcomes)
    lucky = stats.estimate(_features(7))
    day7_lift = {(name, value): lift for name, value, lift in lucky.lifts}[("day_of_month", "7")]
    # One success in one try would be 100%; smoothed, it barely moves the day's rate.
    assert 0 < day7_lift < 0.3
    assert stats.success_probability(_features(1)) > stats.success_probability(_features(7))


def test_feature_and_total_lifts_are_capped() -> None:
    prior = LearningPrior(max_feature_lift=0.5, max_total_lift=0.8)
    outcomes = [
        AttemptOutcome(datetime(2025, 1, 1, 9, tzinfo=UTC), True, "insufficient_funds", 2) for _ in range(500)
    ] + [AttemptOutcome(datetime(2025, 1, 2, 15, tzinfo=UTC), False, "do_not_honor", 5) for _ in range(5000)]
    stats = OutcomeStats.from_outcomes(outcomes, prior=prior)
    estimate = stats.estimate(_features(1, weekday=2, hour=9))
    assert all(abs(lift) <= 0.5 for _, _, lift in estimate.lifts)
    base = stats.base_rate()
    odds_ratio = (estimate.probability / (1 - estimate.probability)) / (base / (1 - base))
    assert odds_ratio == pytest.approx(math.exp(0.8))


def test_features_are_read_in_the_customer_zone() -> None:
    # 2025-01-31 20:00 UTC is 1 February 05:00 in Tokyo.
    outcome = AttemptOutcome(
        datetime(2025, 1, 31, 20, tzinfo=UTC), True, "insufficient_funds", 3, customer_tz="Asia/Tokyo"
    )
    features = outcome.features()
    assert (features.day_of_month, features.weekday, features.hour) == (1, 5, 5)
    assert SlotFeatures.at(
        datetime(2025, 1, 31, 20, tzinfo=UTC), TOKYO, decline_code=None, attempt_number=1
    ).items()[3] == ("decline_code", "none")


def test_late_attempt_numbers_share_a_bucket() -> None:
    assert dict(_features(1).items())["attempt_number"] == "2"
    late = SlotFeatures(day_of_month=1, weekday=0, hour=9, decline_code=None, attempt_number=12)
    assert dict(late.items())["attempt_number"] == "8+"


@pytest.mark.parametrize(
    "changes",
    [
        {"success_rate": 0.0},
        {"success_rate": 1.0},
        {"base_strength": 0.0},
        {"feature_strength": -1.0},
        {"max_total_lift": float("nan")},
    ],
)
def test_prior_validation(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LearningPrior(**changes)


_outcome = st.builds(
    AttemptOutcome,
    at=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)),
    succeeded=st.booleans(),
    decline_code=st.sampled_from(["insufficient_funds", "do_not_honor", None]),
    attempt_number=st.integers(min_value=1, max_value=10),
    customer_tz=st.sampled_from([None, "Asia/Tokyo", "America/New_York"]),
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    outcomes=st.lists(_outcome, max_size=60), extra=_outcome, repeat=st.integers(min_value=1, max_value=30)
)
def test_probability_is_monotone_in_evidence_for_the_slot_itself(
    outcomes: list[AttemptOutcome], extra: AttemptOutcome, repeat: int
) -> None:
    before = OutcomeStats.from_outcomes(outcomes)
    query = extra.features()
    p = before.success_probability(query)
    assert 0.0 < p < 1.0
    won = AttemptOutcome(extra.at, True, extra.decline_code, extra.attempt_number, extra.customer_tz)
    lost = AttemptOutcome(extra.at, False, extra.decline_code, extra.attempt_number, extra.customer_tz)
    more_wins = OutcomeStats.from_outcomes([*outcomes, *([won] * repeat)])
    more_losses = OutcomeStats.from_outcomes([*outcomes, *([lost] * repeat)])
    assert more_wins.success_probability(query) >= p - 1e-12
    assert more_losses.success_probability(query) <= p + 1e-12


@settings(max_examples=200, deadline=None, database=None)
@given(outcomes=st.lists(_outcome, max_size=80), start=st.integers(min_value=0, max_value=24 * 400))
def test_probability_stays_within_the_caps_around_the_base(
    outcomes: list[AttemptOutcome], start: int
) -> None:
    stats = OutcomeStats.from_outcomes(outcomes)
    at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=start)
    estimate = stats.estimate(SlotFeatures.at(at, TOKYO, decline_code="insufficient_funds", attempt_number=2))
    base = stats.base_rate()
    odds_ratio = (estimate.probability / (1 - estimate.probability)) / (base / (1 - base))
    cap = math.exp(2.0)  # the default total lift
    assert 1 / cap - 1e-9 <= odds_ratio <= cap + 1e-9
