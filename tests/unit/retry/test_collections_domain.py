"""Collections rules without I/O: exact instalment splits, plan options within the tenant's
limits, promise horizons and the end of a promised day in the customer's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunning.retry.collections.domain import (
    CollectionsPolicy,
    CollectionsRefused,
    check_plan,
    check_promise,
    end_of_day,
    next_try,
    plan_options,
    split_amount,
)

TODAY = date(2026, 11, 20)


@given(total=st.integers(1, 10**12), count=st.integers(1, 60))
def test_a_split_sums_exactly_with_the_remainder_first(total: int, count: int) -> None:
    if total < count:
        with pytest.raises(ValueError, match="split"):
            split_amount(total, count)
        return
    parts = split_amount(total, count)
    assert sum(parts) == total
    assert len(parts) == count
    assert all(isinstance(p, int) for p in parts)
    assert parts[0] - parts[-1] == total % count
    assert len(set(parts[1:])) <= 1


def test_zero_decimal_currencies_split_in_whole_units() -> None:
    assert split_amount(10_000, 3) == [3334, 3333, 3333]  # 10,000 JPY: no fraction of a yen


def test_plan_options_respect_minimum_span_and_count() -> None:
    policy = CollectionsPolicy(max_instalments=6, max_span_days=60, interval_days=30)
    options = plan_options(policy, 4500, "EUR", TODAY)
    assert [o.instalments for o in options] == [2, 3]  # 4 would span 90 days
    assert options[1].last_due == date(2027, 1, 19)
    tight = CollectionsPolicy(min_instalment_amount={"EUR": 2000})
    assert [o.instalments for o in plan_options(tight, 4500, "eur", TODAY)] == [2]
    assert plan_options(CollectionsPolicy(plans_allowed=False), 4500, "EUR", TODAY) == []
    with pytest.raises(CollectionsRefused) as refused:
        check_plan(tight, 4500, "EUR", 3, TODAY)
    assert refused.value.code == "plan_out_of_limits"


@pytest.mark.parametrize(
    ("pay_by", "code"),
    [(date(2026, 11, 19), "promise_in_past"), (date(2026, 12, 5), "promise_too_far")],
)
def test_promises_outside_the_horizon_are_refused(pay_by: date, code: str) -> None:
    with pytest.raises(CollectionsRefused) as refused:
        check_promise(CollectionsPolicy(), pay_by, TODAY)
    assert refused.value.code == code
    check_promise(CollectionsPolicy(), date(2026, 12, 4), TODAY)  # 14 days: allowed


def test_a_promised_day_ends_at_local_midnight() -> None:
    tokyo = end_of_day(date(2026, 11, 20), ZoneInfo("Asia/Tokyo"))
    assert tokyo == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    new_york = end_of_day(date(2026, 3, 7), ZoneInfo("America/New_York"))  # DST starts on the 8th
    assert new_york == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)


def test_declined_instalments_are_tried_at_3_and_7_days_then_given_up() -> None:
    first = datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert [next_try(first, n) for n in (1, 2, 3)] == [
        datetime(2026, 11, 23, 9, tzinfo=UTC),
        datetime(2026, 11, 27, 9, tzinfo=UTC),
        None,
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"max_instalments": 1},
        {"interval_days": 0},
        {"max_span_days": 5},
        {"min_instalment_amount": {"EU": 1}},
    ],
)
def test_a_bad_policy_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must|ISO"):
        CollectionsPolicy(**changes)  # type: ignore[arg-type]
