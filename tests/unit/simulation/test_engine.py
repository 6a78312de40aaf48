"""The engine with the real scheduler: deterministic, within the card caps, never retrying `never` codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.simulation.factories import FAILED_AT, make_customer, population_of

from dunning.retry.domain.decline_codes import DeclineCategory
from dunning.retry.domain.declines import classify_decline
from dunning.retry.domain.history import AttemptHistory, PastAttempt
from dunning.simulation.cases import CaseState, PlanKind, World
from dunning.simulation.engine import simulate
from dunning.simulation.lineup import OURS, TENANT_POLICY, lineup
from dunning.simulation.metrics import measure
from dunning.simulation.policies import BASELINES, FixedSchedule, OursPolicy
from dunning.simulation.population import generate
from dunning.simulation.presets import PRESETS
from dunning.simulation.truth import Cause

OURS_POLICY = OursPolicy(OURS, TENANT_POLICY)
SINGLE_INVOICE = ("consumer-monthly", "mixed-global")


def test_a_run_is_deterministic() -> None:
    population = generate(PRESETS["mixed-global"], 80, 5)
    assert simulate(population, OURS_POLICY) == simulate(population, OURS_POLICY)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=10_000), name=st.sampled_from(SINGLE_INVOICE))
def test_ours_keeps_the_card_caps_and_never_retries_a_never_decline(seed: int, name: str) -> None:
    population = generate(PRESETS[name], 60, seed)
    for policy in lineup(None):
        if not policy.name.startswith(OURS):
            continue
        m = measure(simulate(population, policy))
        assert m.cap_violations == 0
        assert m.never_attempts == 0


def test_ours_charges_nothing_on_a_dead_card_and_the_new_card_after_the_customer_attaches_it() -> None:
    customer = make_customer(cause=Cause.DEAD, code="stolen_card", new_card_after=timedelta(days=3))
    (case,) = simulate(population_of(customer), OURS_POLICY).cases
    first, paid = case.attempts
    assert first.category is DeclineCategory.NEVER
    assert customer.new_card is not None
    assert paid.method_id == customer.new_card.id
    assert paid.succeeded
    assert case.recovered_at == FAILED_AT + timedelta(days=3, minutes=5)


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda b: b.name)
def test_a_fixed_schedule_makes_exactly_its_tries_at_its_offsets(baseline: FixedSchedule) -> None:
    customer = make_customer(cause=Cause.DEAD, code="stolen_card")
    (case,) = simulate(population_of(customer), baseline).cases
    retries = case.attempts[1:]
    assert [a.at - FAILED_AT for a in retries] == list(baseline.offsets)
    assert case.recovered_at is None
    # What a fixed schedule does: every retry lands on the card a `never` decline ruled out.
    assert measure(simulate(population_of(customer), baseline)).never_attempts == baseline.retries


def test_a_fixed_schedule_stops_at_the_first_success() -> None:
    customer = make_customer(cause=Cause.TRANSIENT, code="processing_error", clears_after=timedelta(hours=1))
    (case,) = simulate(population_of(customer), BASELINES[0]).cases
    assert case.recovered_at is not None
    assert case.attempts[-1].succeeded
    assert len(case.attempts) < 1 + BASELINES[0].retries


def test_daily_retries_break_the_visa_cap_and_are_counted() -> None:
    daily = next(b for b in BASELINES if b.name.startswith("daily"))
    customer = make_customer(cause=Cause.DEAD, code="stolen_card", brand="visa")
    m = measure(simulate(population_of(customer), daily))
    # 22 charges in 21 days on one Visa card: the 16th and every one after are over 15 per 30 days.
    assert m.cap_violations == 1 + daily.retries - 15


def test_ours_keeps_the_card_caps_across_several_invoices_on_one_card() -> None:
    # Three invoices failing together on a Mastercard with an outage that never clears: each case
    # retries within hours (2, 4, 6 h), 12 charges in a day against a cap of 10 per 24 hours.
    customers = [
        make_customer(
            cid=f"cus_{k}", cause=Cause.TRANSIENT, code="processing_error", brand="mastercard", invoices=3
        )
        for k in range(5)
    ]
    assert measure(simulate(population_of(*customers), OURS_POLICY)).cap_violations == 0


def test_the_world_counts_other_cases_planned_charges_until_they_run_or_are_replaced() -> None:
    world = World()
    world.record("pm_1", FAILED_AT)
    world.plan(0, "pm_1", FAILED_AT + timedelta(hours=2))
    world.plan(1, "pm_1", FAILED_AT + timedelta(hours=4))
    # Case 1 sees case 0's planned charge, not its own (a new plan replaces it).
    assert list(world.view(exclude=1)["pm_1"]) == [FAILED_AT, FAILED_AT + timedelta(hours=2)]
    world.plan(0, "pm_1", FAILED_AT + timedelta(hours=3))  # replaced
    world.plan(1, None, None)  # canceled
    assert sorted(world.view()["pm_1"]) == [FAILED_AT, FAILED_AT + timedelta(hours=3)]
    world.plan(0, None, None)  # it runs: made, no longer planned
    world.record("pm_1", FAILED_AT + timedelta(hours=3))
    assert list(world.view()["pm_1"]) == [FAILED_AT, FAILED_AT + timedelta(hours=3)]
    assert "pm_2" not in world.view()


def test_ours_plans_no_charge_on_a_card_another_case_saw_declined_as_stolen() -> None:
    customer = make_customer(cause=Cause.FUNDS, code="insufficient_funds")
    card = customer.primary.id
    state = CaseState(customer, customer.invoices[0])
    advice = classify_decline(decline_code="insufficient_funds", card_brand="visa")
    state.history = AttemptHistory((PastAttempt(FAILED_AT, card, "visa", advice),))
    plan = OURS_POLICY.after_failure(state, FAILED_AT, World())
    assert plan is not None
    assert (plan.kind, plan.method_id) == (PlanKind.CHARGE, card)
    stolen_elsewhere = World()
    stolen_elsewhere.record(card, FAILED_AT - timedelta(hours=1), never=True)
    plan = OURS_POLICY.after_failure(state, FAILED_AT, stolen_elsewhere)
    assert plan is not None
    assert plan.kind is not PlanKind.CHARGE
    assert "in another case" in plan.reason
