"""Card caps that count other cases' planned charges: every rolling window a charge would join stays
within the cap, and a refused charge is told an instant that is itself allowed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.retry.domain import (
    AttemptHistory,
    CardNetworkCaps,
    NetworkCap,
    PastAttempt,
    RetryPolicy,
    Slot,
    Stop,
    StoredMethod,
    check_card_caps,
    classify_decline,
    next_attempt_slot,
)
from dunning.retry.domain.methods import MethodChange, MethodChangeKind

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CARD = "pm_card"
SPARE = "pm_spare"


def hours(*offsets: float) -> list[datetime]:
    return [T0 + timedelta(hours=h) for h in offsets]


# -- planned attempts after the candidate ------------------------------------------------------------


def test_a_charge_before_a_full_day_of_planned_charges_is_refused() -> None:
    # Other cases planned 10 charges on this Mastercard over the next 9 hours.
    planned = hours(*range(1, 11))
    check = check_card_caps(planned, "mastercard", T0, CardNetworkCaps())
    assert not check.allowed
    assert "10 attempts, counting planned ones, in the 24 h up to 2025-03-01 22:00 UTC" in check.reason
    # After the last planned charge, the window ending there still holds the other nine; the
    # first instant that fits is when the first planned one has left: 24 h after it.
    assert check.next_allowed_at == T0 + timedelta(hours=25)
    assert check_card_caps(planned, "mastercard", T0 + timedelta(hours=25), CardNetworkCaps()).allowed


def test_a_charge_that_fills_the_window_of_a_later_planned_charge_is_refused() -> None:
    caps = CardNetworkCaps(visa=(NetworkCap(3, timedelta(days=1)),))
    # One made 10 h ago, two planned in 5 and 6 hours: the day ending now would hold 2 with this
    # charge, but the day ending with the second planned one would hold 4.
    times = hours(-10, 5, 6)
    check = check_card_caps(times, "visa", T0, caps)
    assert not check.allowed
    assert "3 attempts, counting planned ones, in the 24 h up to 2025-03-01 18:00 UTC (cap 3 per 24 h)" in (
        check.reason
    )
    assert check.next_allowed_at == T0 + timedelta(hours=14)  # the made one has left (-10 h + 24 h)
    assert check_card_caps(times, "visa", T0 + timedelta(hours=14), caps).allowed


def test_past_only_attempts_keep_the_old_answer() -> None:
    fifteen = [T0 + timedelta(days=i) for i in range(15)]
    check = check_card_caps(fifteen, "visa", T0 + timedelta(days=15), CardNetworkCaps())
    assert check.next_allowed_at == T0 + timedelta(days=30)
    assert "15 attempts in the last 30 days (cap 15 per 30 days)" in check.reason


def test_next_allowed_at_skips_an_instant_a_planned_charge_fills_again() -> None:
    caps = CardNetworkCaps(visa=(NetworkCap(2, timedelta(hours=10)),))
    # Full now (two in the last 10 h). The first made one leaves at +2 h, the second at +3 h, but
    # the pair planned at +3 h and +4 h fills any 10 hours holding both: the first instant that
    # fits is when the one at +3 h has left, at +13 h — not the +2 h the past alone suggests.
    times = hours(-8, -7, 3, 4)
    check = check_card_caps(times, "visa", T0, caps)
    assert not check.allowed
    assert check.next_allowed_at == T0 + timedelta(hours=13)
    assert check_card_caps(times, "visa", check.next_allowed_at, caps).allowed
    assert not check_card_caps(times, "visa", T0 + timedelta(hours=2), caps).allowed


# -- the property -------------------------------------------------------------------------------------

BRANDS = st.sampled_from(["visa", "mastercard", "amex", None])
SMALL_CAPS = st.builds(
    lambda limit, per: (NetworkCap(limit, timedelta(hours=per)),),
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=48),
)
CAPS = st.one_of(
    st.just(CardNetworkCaps()),
    st.builds(
        lambda v, m, o: CardNetworkCaps(visa=v, mastercard=m, other=o), SMALL_CAPS, SMALL_CAPS, SMALL_CAPS
    ),
)


def _windows_hold(times: Sequence[datetime], at: datetime, limits: Sequence[NetworkCap]) -> bool:
    """Brute force: with ``at`` inserted, every window holding it is within its cap."""
    points = [*times, at]
    for cap in limits:
        for end in points:
            if end - cap.per < at <= end and sum(1 for t in points if end - cap.per < t <= end) > cap.limit:
                return False
    return True


@settings(max_examples=400, deadline=None, database=None)
@given(
    offsets=st.lists(st.integers(min_value=-800, max_value=800), max_size=30),
    candidate=st.integers(min_value=-60, max_value=800),
    brand=BRANDS,
    caps=CAPS,
)
def test_allowed_charges_break_no_window_and_refusals_name_an_allowed_instant(
    offsets: list[int], candidate: int, brand: str | None, caps: CardNetworkCaps
) -> None:
    times = hours(*offsets)
    at = T0 + timedelta(hours=candidate)
    limits = caps.for_brand(brand)
    check = check_card_caps(times, brand, at, caps)
    assert check.allowed is _windows_hold(times, at, limits)
    if check.allowed:
        return
    # Caps allow at least one attempt, so waiting always helps: never None here.
    assert check.next_allowed_at is not None
    assert check.next_allowed_at > at
    assert check_card_caps(times, brand, check.next_allowed_at, caps).allowed
    assert _windows_hold(times, check.next_allowed_at, limits)
    # And it is the earliest: no instant where an attempt leaves a window fits sooner.
    sooner = {t + cap.per for t in times for cap in limits if at < t + cap.per < check.next_allowed_at}
    assert not any(_windows_hold(times, s, limits) for s in sooner)


# -- the scheduler: several invoices on one card ----------------------------------------------------------


def declined(at: datetime, code: str, *, method: str = CARD, brand: str = "mastercard") -> PastAttempt:
    advice = classify_decline(decline_code=code, card_brand=brand)
    return PastAttempt(at=at, method_id=method, card_brand=brand, advice=advice)


def plan(history: list[PastAttempt], **kwargs: object) -> Slot | Stop:
    attempts = AttemptHistory(tuple(history))
    assert attempts.last is not None
    return next_attempt_slot(
        now=attempts.last.at,
        opened_at=attempts.attempts[0].at,
        history=attempts,
        advice=attempts.last.advice,
        policy=kwargs.pop("policy", RetryPolicy()),  # type: ignore[arg-type]
        customer_tz="UTC",
        **kwargs,  # type: ignore[arg-type]
    )


def test_invoices_failing_together_count_each_failure() -> None:
    # Three invoices failed at the same instant on one Mastercard and the other two cases
    # planned their retries at +2 h, +4 h, +6 h each: 3 + 6 = 9 charges in the day.
    failed = T0
    others = [failed, failed, *hours(2, 2, 4, 4, 6, 6)]
    outcome = plan([declined(failed, "processing_error")], card_attempt_times={CARD: [failed, *others]})
    assert isinstance(outcome, Slot)
    times = [failed, *others]
    assert check_card_caps(times, "mastercard", outcome.due_at, CardNetworkCaps()).allowed
    # The tenth charge of the day would be allowed, so it stays at the transient 2 hours.
    assert outcome.due_at == failed + timedelta(hours=2)
    full = [*times, T0 + timedelta(hours=8)]
    later = plan([declined(failed, "processing_error")], card_attempt_times={CARD: full})
    assert isinstance(later, Slot)
    assert later.due_at >= T0 + timedelta(hours=24)
    assert "counting planned ones" in later.reason


# -- `never` declines in another case -------------------------------------------------------------------


def spare(**changes: object) -> StoredMethod:
    values: dict[str, object] = {
        "id": SPARE,
        "kind": "card",
        "brand": "visa",
        "exp_month": 12,
        "exp_year": 2031,
        "is_default": False,
        "created": T0 - timedelta(days=100),
    }
    return StoredMethod(**(values | changes))  # type: ignore[arg-type]


def card(**changes: object) -> StoredMethod:
    return spare(id=CARD, brand="mastercard", is_default=True, **changes)


def test_a_card_declined_as_stolen_in_another_case_is_not_retried() -> None:
    stolen_elsewhere = {CARD: T0 - timedelta(hours=1)}
    outcome = plan([declined(T0, "insufficient_funds")], never_declined=stolen_elsewhere)
    assert isinstance(outcome, Stop)
    assert "declined for good (lost, stolen, fraud or revoked) in another case" in outcome.reason
    # Without that decline the same case retries the card.
    assert isinstance(plan([declined(T0, "insufficient_funds")]), Slot)


def test_a_card_declined_elsewhere_is_skipped_by_the_cascade() -> None:
    policy = RetryPolicy(allow_alternate_methods=True)
    history = [declined(T0, "expired_card", method=SPARE, brand="visa")]
    methods = [card(), spare()]
    outcome = plan(history, policy=policy, methods=methods, never_declined={CARD: T0 - timedelta(days=1)})
    assert isinstance(outcome, Stop)
    assert "0 usable" in outcome.reason
    assert isinstance(plan(history, policy=policy, methods=methods), Slot)


def test_a_card_updated_after_the_decline_elsewhere_may_be_retried() -> None:
    declined_at = T0 - timedelta(days=2)
    fixed = card(updated_at=T0 - timedelta(days=1))
    outcome = plan([declined(T0, "insufficient_funds")], methods=[fixed], never_declined={CARD: declined_at})
    assert isinstance(outcome, Slot)
    assert outcome.method_id == CARD
    stale = card(updated_at=declined_at - timedelta(days=1))
    assert isinstance(
        plan([declined(T0, "insufficient_funds")], methods=[stale], never_declined={CARD: declined_at}), Stop
    )


def test_a_card_change_older_than_a_decline_elsewhere_charges_nothing() -> None:
    history = [declined(T0 - timedelta(days=3), "insufficient_funds")]
    change = MethodChange(
        MethodChangeKind.UPDATED, card(updated_at=T0 - timedelta(days=2)), T0 - timedelta(days=2)
    )
    outcome = next_attempt_slot(
        now=T0,
        opened_at=T0 - timedelta(days=3),
        history=AttemptHistory(tuple(history)),
        advice=history[-1].advice,
        policy=RetryPolicy(),
        customer_tz="UTC",
        change=change,
        never_declined={CARD: T0 - timedelta(days=1)},
    )
    assert isinstance(outcome, Stop)
    assert outcome.end_action is None  # "leave the plan as it is"
    assert "declined for good after that change" in outcome.reason
