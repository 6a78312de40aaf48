"""What a charge returns: paydays, drains, dead cards, and the same answer for the same charge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.simulation.factories import FAILED_AT, make_customer

from dunning.simulation.paycycles import CycleKind, PayCycle
from dunning.simulation.truth import Cause, charge, success_probability


def test_missing_funds_return_on_the_real_payday_after_the_money_lands() -> None:
    customer = make_customer(
        cause=Cause.FUNDS, code="insufficient_funds", pay_cycle=PayCycle(CycleKind.WEEKLY)
    )
    # New York, paid Fridays at 04:00 local; the failure was Tuesday 4 March.
    thursday = datetime(2025, 3, 6, 14, tzinfo=UTC)
    friday_early = datetime(2025, 3, 7, 8, tzinfo=UTC)  # 03:00 local: not landed yet
    friday_morning = datetime(2025, 3, 7, 13, tzinfo=UTC)  # 08:00 local
    later = friday_morning + timedelta(days=5)
    p = {
        t: success_probability(customer, t, None, seed=1)
        for t in (thursday, friday_early, friday_morning, later)
    }
    assert p[thursday] == p[friday_early] < 0.05
    assert p[friday_morning] > 0.5
    assert p[thursday] <= p[later] < p[friday_morning], "the pay drains over the following days"


def test_a_dead_card_never_pays_and_returns_its_code() -> None:
    customer = make_customer(cause=Cause.DEAD, code="lost_card")
    for hours in range(0, 24 * 30, 7):
        result = charge(
            customer, customer.primary.id, FAILED_AT + timedelta(hours=hours), previous_on_card=None, seed=2
        )
        assert not result.succeeded
        assert result.decline_code == "lost_card"


def test_the_same_charge_gets_the_same_answer() -> None:
    customer = make_customer(cause=Cause.ISSUER, code="do_not_honor", clears_after=timedelta(days=1))
    at = FAILED_AT + timedelta(days=2)
    answers = {charge(customer, customer.primary.id, at, previous_on_card=None, seed=5) for _ in range(5)}
    assert len(answers) == 1


def test_quick_retries_after_an_issuer_decline_are_less_likely_to_pass() -> None:
    customer = make_customer(cause=Cause.ISSUER, code="do_not_honor", clears_after=timedelta(days=1))
    at = FAILED_AT + timedelta(days=3)
    quick = success_probability(customer, at, at - timedelta(hours=2), seed=1)
    rested = success_probability(customer, at, at - timedelta(days=2), seed=1)
    assert 0 < quick < rested
