"""The case lifecycle under duplicated, late and out-of-order facts: monotonic and explainable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.retry.domain.lifecycle import (
    Action,
    CaseStatus,
    Fact,
    InvoiceLedger,
    Transition,
    apply_action,
    apply_fact,
    fact_of,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def run(steps: list[tuple[Fact | Action, int]]) -> tuple[InvoiceLedger | None, list[str], list[Transition]]:
    ledger: InvoiceLedger | None = None
    events: list[str] = []
    transitions = []
    for step, minutes in steps:
        at = T0 + timedelta(minutes=minutes)
        transition = (
            apply_fact(ledger, step, at) if isinstance(step, Fact) else apply_action(ledger, step, at)
        )
        ledger = transition.ledger
        events.extend(transition.events)
        transitions.append(transition)
    return ledger, events, transitions


def test_failure_opens_and_payment_recovers() -> None:
    ledger, events, transitions = run([(Fact.FAILED, 0), (Fact.FAILED, 60), (Fact.PAID, 120)])
    assert ledger is not None
    assert ledger.status is CaseStatus.RECOVERED
    assert ledger.failures == 2
    assert ledger.opened_at == T0
    assert events == ["case.opened", "case.recovered"]
    assert transitions[1].note == "another failed payment"


def test_a_late_failure_for_a_paid_invoice_opens_nothing() -> None:
    ledger, events, transitions = run([(Fact.PAID, 60), (Fact.FAILED, 0)])
    assert ledger is not None
    assert ledger.status is CaseStatus.NONE
    assert events == []
    assert transitions[-1].note == "failure ignored: the invoice is already paid"


@pytest.mark.parametrize(
    ("closing", "resolution"),
    [
        (Fact.VOIDED, "voided"),
        (Fact.UNCOLLECTIBLE, "uncollectible"),
        (Fact.SUBSCRIPTION_CANCELED, "subscription_canceled"),
        (Fact.DISPUTE_LOST, "dispute_lost"),
    ],
)
def test_closing_facts_close_an_open_case(closing: Fact, resolution: str) -> None:
    ledger, events, _ = run([(Fact.FAILED, 0), (closing, 10)])
    assert ledger is not None
    assert (ledger.status, ledger.resolution) == (CaseStatus.CLOSED, resolution)
    assert events == ["case.opened", "case.closed"]


def test_payment_after_uncollectible_or_write_off_is_recovered_money_but_not_after_void() -> None:
    for giving_up in ((Fact.UNCOLLECTIBLE, 10), (Action.WRITE_OFF, 10)):
        ledger, events, _ = run([(Fact.FAILED, 0), giving_up, (Fact.PAID, 20)])
        assert ledger is not None
        assert ledger.status is CaseStatus.RECOVERED
        assert events[-1] == "case.recovered"
    ledger, events, transitions = run([(Fact.FAILED, 0), (Fact.VOIDED, 10), (Fact.PAID, 20)])
    assert ledger is not None
    assert ledger.status is CaseStatus.CLOSED
    assert transitions[-1].note == "payment ignored while the invoice is voided"


def test_dispute_pauses_and_a_won_dispute_resumes_but_a_manual_pause_holds() -> None:
    ledger, events, _ = run(
        [(Fact.FAILED, 0), (Fact.DISPUTE_OPENED, 5), (Action.PAUSE, 6), (Fact.DISPUTE_WON, 7)]
    )
    assert ledger is not None
    assert ledger.status is CaseStatus.PAUSED
    assert ledger.pause_reasons == {"manual"}
    assert events == ["case.opened", "case.disputed", "case.paused"]
    ledger2 = apply_action(ledger, Action.RESUME, T0 + timedelta(minutes=8))
    assert ledger2.ledger.status is CaseStatus.OPEN
    assert ledger2.events == ("case.resumed",)


def test_exhausted_cases_can_still_recover_and_actions_on_settled_cases_are_refused() -> None:
    ledger, events, _ = run([(Fact.FAILED, 0), (Action.EXHAUST, 10), (Fact.PAID, 20)])
    assert ledger is not None
    assert ledger.status is CaseStatus.RECOVERED
    assert events == ["case.opened", "case.exhausted", "case.recovered"]
    refused = apply_action(ledger, Action.WRITE_OFF, T0 + timedelta(minutes=30))
    assert refused.events == ()
    assert refused.note == "write_off refused: the case is recovered"
    assert refused.refused


def test_dispute_closed_maps_on_the_processor_status() -> None:
    assert fact_of("dispute.closed", dispute_status="lost") is Fact.DISPUTE_LOST
    assert fact_of("dispute.closed", dispute_status="won") is Fact.DISPUTE_WON
    assert fact_of("dispute.closed", dispute_status="warning_closed") is Fact.DISPUTE_WON
    assert fact_of("payment.action_required") is Fact.FAILED
    assert fact_of("payment_method.updated") is None


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_fact(None, Fact.FAILED, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_action(None, Action.PAUSE, datetime(2026, 1, 1))


steps = st.lists(
    st.tuples(st.sampled_from([*Fact, *Action]), st.integers(min_value=0, max_value=10_000)), max_size=25
)
SETTLED_FOR_GOOD = {CaseStatus.RECOVERED}


@settings(max_examples=600)
@given(steps)
def test_properties_over_any_order_of_facts_and_actions(sequence: list[tuple[Fact | Action, int]]) -> None:
    ledger, events, transitions = run(sequence)
    # A case opens at most once, and every lifecycle event follows an opening.
    assert events.count("case.opened") <= 1
    if events:
        assert events[0] == "case.opened"
    # Recovered is final; nothing after it changes the status or emits anything.
    statuses = [t.ledger.status for t in transitions]
    if CaseStatus.RECOVERED in statuses:
        first = statuses.index(CaseStatus.RECOVERED)
        assert all(s is CaseStatus.RECOVERED for s in statuses[first:])
        assert all(not t.events for t in transitions[first + 1 :])
    # Paused exactly when there is a reason to be.
    for t in transitions:
        assert (t.ledger.status is CaseStatus.PAUSED) == bool(t.ledger.pause_reasons)
        assert t.note
    # A payment that is not preceded by a void always ends with the money recognised.
    facts = [s for s, _ in sequence if isinstance(s, Fact)]
    if Fact.PAID in facts and Fact.VOIDED not in facts[: facts.index(Fact.PAID)] and ledger is not None:
        assert ledger.status is CaseStatus.RECOVERED or (
            ledger.status is CaseStatus.NONE and ledger.resolution == "paid"
        )


@settings(max_examples=300)
@given(steps, st.sampled_from(list(Fact)))
def test_a_duplicated_fact_never_emits_twice(sequence: list[tuple[Fact | Action, int]], fact: Fact) -> None:
    ledger, _, _ = run(sequence)
    first = apply_fact(ledger, fact, T0)
    second = apply_fact(first.ledger, fact, T0)
    assert second.events == ()
