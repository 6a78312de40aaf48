"""Retry policy validation, card network caps over rolling windows, case limits, alternate method order."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from dunning.retry.domain import (
    CardNetworkCaps,
    EndAction,
    LocalHours,
    NetworkCap,
    RetryMode,
    RetryPolicy,
    StoredMethod,
    check_card_caps,
    check_case_limits,
    order_alternates,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.mode is RetryMode.OWN_RETRIES
    assert policy.max_attempts == 8
    assert policy.window_days == 21
    assert policy.cascade_delay == timedelta(minutes=5)
    assert policy.allow_alternate_methods is False
    assert policy.end_action is EndAction.LEAVE_PAST_DUE
    assert policy.retry_hours == LocalHours(time(8), time(20))
    assert policy.paydays is True
    assert policy.card_caps.for_brand("visa") == (NetworkCap(15, timedelta(days=30)),)
    assert set(policy.card_caps.for_brand("mastercard")) == {
        NetworkCap(35, timedelta(days=30)),
        NetworkCap(10, timedelta(hours=24)),
    }


def test_policy_accepts_strings_from_the_api() -> None:
    policy = RetryPolicy(mode="observe", end_action="cancel_subscription")  # type: ignore[arg-type]
    assert policy.mode is RetryMode.OBSERVE
    assert policy.end_action is EndAction.CANCEL_SUBSCRIPTION


def test_zero_cascade_delay_is_allowed() -> None:
    assert RetryPolicy(cascade_delay=timedelta(0)).cascade_delay == timedelta(0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be a whole number from 1 to 50, got 0"),
        ({"max_attempts": True}, "max_attempts must be a whole number"),
        ({"max_attempts": 51}, "max_attempts must be a whole number from 1 to 50"),
        ({"window_days": 0}, "window_days must be a whole number from 1 to 180"),
        ({"cascade_delay": timedelta(seconds=-1)}, "cascade_delay must be between 0 and 1 day"),
        ({"cascade_delay": 300}, "cascade_delay must be a timedelta"),
        ({"mode": "both"}, "mode must be one of own_retries, observe, got 'both'"),
        ({"end_action": "delete"}, "end_action must be one of cancel_subscription"),
        ({"allow_alternate_methods": "yes"}, "allow_alternate_methods must be true or false"),
        ({"paydays": 1}, "paydays must be true or false"),
        ({"spacing_days": ()}, "spacing_days must be a non-empty tuple"),
        ({"spacing_days": (1, 3, 2)}, "spacing_days must not shrink"),
        ({"spacing_days": (0, 1)}, "each of spacing_days must be a whole number from 1 to 180"),
        (
            {"payday_hours": LocalHours(time(6), time(9))},
            "payday_hours 06:00-09:00 must lie within retry_hours",
        ),
        ({"card_caps": "visa"}, "card_caps must be a CardNetworkCaps"),
    ],
)
def test_policy_validation_messages(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        RetryPolicy(**changes)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LocalHours(time(20), time(8)), "local hours must start before they end"),
        (lambda: LocalHours(time(8, tzinfo=UTC), time(20)), "wall-clock times without a time zone"),
        (lambda: NetworkCap(0, timedelta(days=1)), "a card cap allows at least 1 attempt"),
        (lambda: NetworkCap(5, timedelta(0)), "a card cap's window must be a positive duration"),
        (lambda: CardNetworkCaps(visa=()), "card caps for visa must be a non-empty tuple"),
    ],
)
def test_building_block_validation(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


# -- card caps -------------------------------------------------------------------------------------


def _daily(count: int, *, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(days=i) for i in range(count)]


def test_visa_fifteenth_attempt_allowed_sixteenth_refused() -> None:
    caps = CardNetworkCaps()
    fourteen = _daily(14)
    assert check_card_caps(fourteen, "visa", T0 + timedelta(days=14), caps).allowed
    fifteen = _daily(15)
    at = T0 + timedelta(days=15)
    check = check_card_caps(fifteen, "visa", at, caps)
    assert not check.allowed
    # Exactly when the oldest attempt leaves the 30-day window.
    assert check.next_allowed_at == T0 + timedelta(days=30)
    assert "15 attempts in the last 30 days" in check.reason
    assert "visa" in check.reason


def test_visa_window_boundary_is_exact() -> None:
    caps = CardNetworkCaps()
    fifteen = _daily(15)
    assert not check_card_caps(
        fifteen, "visa", T0 + timedelta(days=30) - timedelta(microseconds=1), caps
    ).allowed
    assert check_card_caps(fifteen, "visa", T0 + timedelta(days=30), caps).allowed


def test_mastercard_ten_in_24_hours() -> None:
    caps = CardNetworkCaps()
    hourly = [T0 + timedelta(hours=i) for i in range(10)]
    at = T0 + timedelta(hours=10)
    check = check_card_caps(hourly, "mastercard", at, caps)
    assert not check.allowed
    assert check.next_allowed_at == T0 + timedelta(hours=24)
    assert "10 attempts in the last 24 h" in check.reason
    assert check_card_caps(hourly[:9], "mastercard", at, caps).allowed
    # A Visa card may have ten attempts in a day.
    assert check_card_caps(hourly, "visa", at, caps).allowed


def test_mastercard_35_in_30_days() -> None:
    caps = CardNetworkCaps()
    # 35 attempts, at most 5 a day, so the 24-hour cap never binds.
    times = [T0 + timedelta(days=d, hours=h) for d in range(7) for h in range(5)]
    assert len(times) == 35
    at = T0 + timedelta(days=8)
    check = check_card_caps(times, "mastercard", at, caps)
    assert not check.allowed
    assert check.next_allowed_at == T0 + timedelta(days=30)
    assert check_card_caps(times[:34], "mastercard", at, caps).allowed


def test_the_later_of_two_broken_caps_decides() -> None:
    caps = CardNetworkCaps()
    times = [T0 + timedelta(days=d, hours=h) for d in range(3) for h in range(10)]
    times += [T0 + timedelta(days=3, hours=h) for h in range(5)]
    # 35 in 30 days and 10 in the last 24 h? the last day has 5, but 10 on day 2 ended a day ago.
    at = T0 + timedelta(days=3, hours=5)
    check = check_card_caps(times, "mastercard", at, caps)
    assert not check.allowed
    assert check.next_allowed_at == T0 + timedelta(days=30)


def test_unknown_brand_honours_every_network_cap() -> None:
    caps = CardNetworkCaps()
    hourly = [T0 + timedelta(hours=i) for i in range(10)]
    assert not check_card_caps(hourly, None, T0 + timedelta(hours=10), caps).allowed
    fifteen = _daily(15)
    assert not check_card_caps(fifteen, "", T0 + timedelta(days=15), caps).allowed


def test_other_networks_use_the_other_caps() -> None:
    caps = CardNetworkCaps(other=(NetworkCap(2, timedelta(days=7)),))
    times = [T0, T0 + timedelta(days=1)]
    check = check_card_caps(times, "amex", T0 + timedelta(days=2), caps)
    assert not check.allowed
    assert check.next_allowed_at == T0 + timedelta(days=7)


def test_caps_are_overridable() -> None:
    caps = CardNetworkCaps(visa=(NetworkCap(3, timedelta(days=30)),))
    assert not check_card_caps(_daily(3), "Visa", T0 + timedelta(days=3), caps).allowed


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_card_caps([], "visa", datetime(2025, 1, 1), CardNetworkCaps())


# -- case limits ----------------------------------------------------------------------------------


def test_case_limits() -> None:
    policy = RetryPolicy(max_attempts=3, window_days=10)
    ok = check_case_limits(attempts_made=2, opened_at=T0, at=T0 + timedelta(days=1), policy=policy)
    assert ok.allowed
    assert "attempt 3 of 3" in ok.reason
    used = check_case_limits(attempts_made=3, opened_at=T0, at=T0 + timedelta(days=1), policy=policy)
    assert not used.allowed
    assert used.next_allowed_at is None
    assert "all 3 attempts" in used.reason
    closed = check_case_limits(attempts_made=0, opened_at=T0, at=T0 + timedelta(days=10), policy=policy)
    assert not closed.allowed
    assert "10-day retry window closed at 2025-03-11 12:00 UTC" in closed.reason
    just_inside = T0 + timedelta(days=10) - timedelta(seconds=1)
    assert check_case_limits(attempts_made=0, opened_at=T0, at=just_inside, policy=policy).allowed


# -- alternate methods ----------------------------------------------------------------------------


def _method(
    method_id: str,
    *,
    default: bool = False,
    created_days_ago: int = 10,
    exp: tuple[int, int] | None = (12, 2030),
) -> StoredMethod:
    return StoredMethod(
        id=method_id,
        kind="card",
        brand="visa",
        exp_month=exp[0] if exp else None,
        exp_year=exp[1] if exp else None,
        is_default=default,
        created=T0 - timedelta(days=created_days_ago),
    )


def test_alternates_default_first_then_newest() -> None:
    methods = [
        _method("pm_old", created_days_ago=300),
        _method("pm_new", created_days_ago=2),
        _method("pm_default", default=True, created_days_ago=500),
        _method("pm_failed", created_days_ago=1),
    ]
    ordered = order_alternates(methods, failed_method_id="pm_failed", hard_declined_ids=set(), now=T0)
    assert [m.id for m in ordered] == ["pm_default", "pm_new", "pm_old"]


def test_alternates_skip_expired_and_hard_declined() -> None:
    methods = [
        _method("pm_expired", exp=(2, 2025)),
        _method("pm_this_month", exp=(3, 2025)),
        _method("pm_stolen"),
        _method("pm_bank", exp=None),
    ]
    ordered = order_alternates(methods, failed_method_id=None, hard_declined_ids={"pm_stolen"}, now=T0)
    assert {m.id for m in ordered} == {"pm_this_month", "pm_bank"}


def test_card_expires_at_the_end_of_its_month_in_utc() -> None:
    card = _method("pm", exp=(3, 2025))
    assert card.expires_at() == datetime(2025, 4, 1, tzinfo=UTC)
    assert not card.is_expired(datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC))
    assert card.is_expired(datetime(2025, 4, 1, tzinfo=UTC))
    december = _method("pm", exp=(12, 2025))
    assert december.expires_at() == datetime(2026, 1, 1, tzinfo=UTC)
    assert _method("pm", exp=(13, 2025)).expires_at() is None
