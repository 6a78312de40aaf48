"""The scheduler asked about a card change: a card attached or fixed is charged after the cascade
delay within the caps and the window; a removed card is never charged; property-checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from tests.unit.retry.test_schedule import CARD, declined, plan, slot, stop, utc

from dunning.retry.domain import (
    AttemptHistory,
    MethodChange,
    MethodChangeKind,
    PastAttempt,
    RetryPolicy,
    Slot,
    Stop,
    StoredMethod,
    next_attempt_slot,
)

FAILED = utc(2025, 6, 10, 12)
CHANGED = utc(2025, 6, 11, 9)
NOW = CHANGED + timedelta(minutes=1)


def card(method_id: str = "pm_new", *, exp: tuple[int, int] = (12, 2031)) -> StoredMethod:
    return StoredMethod(method_id, "card", "visa", exp[0], exp[1], False, CHANGED, CHANGED, last4="4242")


def changed(kind: MethodChangeKind, method: StoredMethod | None = None) -> MethodChange:
    return MethodChange(kind, method or card(), CHANGED)


def ask(
    history: Sequence[PastAttempt],
    change: MethodChange,
    *,
    policy: RetryPolicy | None = None,
    now: datetime = NOW,
    card_attempt_times: Mapping[str, Sequence[datetime]] | None = None,
) -> Slot | Stop:
    attempts = AttemptHistory(tuple(history))
    assert attempts.last is not None
    return next_attempt_slot(
        now=now,
        opened_at=attempts.attempts[0].at,
        history=attempts,
        advice=attempts.last.advice,
        policy=policy or RetryPolicy(),
        customer_tz="America/New_York",
        card_attempt_times=card_attempt_times,
        change=change,
    )


def test_a_card_attached_while_waiting_for_the_customer_is_charged_after_the_cascade_delay() -> None:
    assert isinstance(plan([declined(FAILED, "expired_card")], now=NOW), Stop)  # waiting, without it
    result = slot(ask([declined(FAILED, "expired_card")], changed(MethodChangeKind.ATTACHED)))
    assert (result.method_id, result.attempt_number) == ("pm_new", 2)
    assert result.due_at == NOW + timedelta(minutes=5)
    assert result.reason == (
        "the customer attached a new card (visa ending 4242): charging it after the 5 min cascade delay; "
        "attempt 2 of 8"
    )


def test_a_new_card_is_charged_soon_even_when_the_old_one_waits_for_payday() -> None:
    result = slot(ask([declined(FAILED, "insufficient_funds")], changed(MethodChangeKind.ATTACHED)))
    assert result.due_at == NOW + timedelta(minutes=5)


def test_the_failed_card_updated_by_the_network_is_retried() -> None:
    updated = changed(MethodChangeKind.AUTOMATICALLY_UPDATED, card(CARD))
    result = slot(ask([declined(FAILED, "expired_card")], updated))
    assert result.method_id == CARD
    assert result.reason.startswith("the card network updated the customer's card (visa ending 4242)")


def test_editing_another_stored_card_needs_the_tenants_consent_to_charge_it() -> None:
    edit = changed(MethodChangeKind.UPDATED, card("pm_other"))
    refused = stop(ask([declined(FAILED, "expired_card")], edit))
    assert (refused.end_action, refused.end_at) == (None, None)  # leave the plan as it is
    assert "never charged it" in refused.reason
    allowed = ask([declined(FAILED, "expired_card")], edit, policy=RetryPolicy(allow_alternate_methods=True))
    assert slot(allowed).method_id == "pm_other"


def test_a_card_declined_after_the_change_keeps_its_schedule() -> None:
    history = [declined(FAILED, "expired_card"), declined(NOW, "insufficient_funds", method="pm_new")]
    late_report = changed(MethodChangeKind.UPDATED)  # the change happened before that decline
    assert "declined after that change" in stop(ask(history, late_report, now=NOW)).reason


def test_an_expired_new_card_is_not_charged() -> None:
    expired = changed(MethodChangeKind.ATTACHED, card(exp=(5, 2025)))
    assert "expired at the end of 5/2025" in stop(ask([declined(FAILED, "expired_card")], expired)).reason


def test_max_attempts_used_stops_whatever_the_card() -> None:
    policy = RetryPolicy(max_attempts=1)
    result = stop(ask([declined(FAILED, "expired_card")], changed(MethodChangeKind.ATTACHED), policy=policy))
    assert "all 1 attempts allowed by the policy are used" in result.reason


def test_a_card_at_its_cap_is_charged_when_the_cap_frees_or_not_at_all() -> None:
    times = [NOW - timedelta(days=29, hours=23)] + [NOW - timedelta(days=d) for d in range(1, 15)]
    attached = changed(MethodChangeKind.ATTACHED)
    result = slot(ask([declined(FAILED, "expired_card")], attached, card_attempt_times={"pm_new": times}))
    assert result.due_at == times[0] + timedelta(days=30)  # the oldest attempt leaves the Visa window
    assert "moved to" in result.reason
    late = NOW - timedelta(days=20, hours=23, minutes=50)  # the window closes in ten minutes
    capped = ask([declined(late, "expired_card")], attached, card_attempt_times={"pm_new": times})
    assert "card caps before the window closes" in stop(capped).reason


def test_a_removed_card_is_not_retried_even_after_a_soft_decline() -> None:
    removed = changed(MethodChangeKind.DETACHED, card(CARD))
    result = stop(ask([declined(FAILED, "insufficient_funds")], removed))
    assert result.reason.startswith(
        "the customer removed their card (visa ending 4242), so it cannot be charged"
    )
    assert result.end_action is not None  # waiting for the customer, then the end action


@given(
    kind=st.sampled_from([MethodChangeKind.ATTACHED, MethodChangeKind.UPDATED]),
    delay=st.integers(min_value=0, max_value=24 * 60),
    after_failure=st.integers(min_value=1, max_value=30 * 24 * 60),
    code=st.sampled_from(["expired_card", "insufficient_funds", "stolen_card", "do_not_honor"]),
    exp_year=st.integers(min_value=2024, max_value=2030),
)
def test_a_changed_card_is_charged_after_the_delay_inside_the_window_or_not_at_all(
    kind: MethodChangeKind, delay: int, after_failure: int, code: str, exp_year: int
) -> None:
    policy = RetryPolicy(cascade_delay=timedelta(minutes=delay), allow_alternate_methods=True)
    now = FAILED + timedelta(minutes=after_failure)
    method = card(exp=(6, exp_year))
    result = ask([declined(FAILED, code)], MethodChange(kind, method, now), policy=policy, now=now)
    if isinstance(result, Slot):
        assert result.method_id == "pm_new"
        assert result.due_at >= now + policy.cascade_delay
        assert result.due_at < FAILED + timedelta(days=policy.window_days)
        assert not method.is_expired(now)
    else:
        assert method.is_expired(now) or now + policy.cascade_delay >= FAILED + timedelta(days=21)
