"""The simulation engine: an event loop over simulated time that asks a policy what to do next.

The clock is the event's instant, injected into every decision; nothing reads the wall clock.
Events are the failure that opens each case, the customer attaching a new card (ground truth),
and whatever the policy planned (a charge, a methods lookup, the end of dunning). Charges are
answered by the ground truth (``truth.charge``) and their declines classified by the retry
service's own ``classify_decline``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from dunning.retry.domain.decline_codes import DeclineCategory
from dunning.retry.domain.declines import classify_decline
from dunning.retry.domain.history import AttemptHistory, PastAttempt
from dunning.simulation.cases import AttemptRecord, CaseState, Plan, PlanKind, RunResult, World
from dunning.simulation.policies import Policy
from dunning.simulation.population import Population
from dunning.simulation.truth import ChargeResult, charge

Progress = Callable[[int], None]  # called with the number of cases finished since the last call


class _Event(StrEnum):
    OPEN = "open"
    CARD = "card"
    DUE = "due"


def simulate(population: Population, policy: Policy, *, progress: Progress | None = None) -> RunResult:
    """Run ``policy`` over every case of ``population``; deterministic for a given population."""
    world = World()
    states: list[CaseState] = []
    queue: list[tuple[datetime, int, int, _Event, int]] = []
    order = 0

    def push(at: datetime, index: int, event: _Event, token: int = 0) -> None:
        nonlocal order
        order += 1
        heapq.heappush(queue, (at, order, index, event, token))

    for customer in population.customers:
        for invoice in customer.invoices:
            states.append(CaseState(customer, invoice, key=len(states)))
            index = len(states) - 1
            push(invoice.failed_at, index, _Event.OPEN)
            if customer.new_card_at is not None:
                push(customer.new_card_at, index, _Event.CARD)

    def apply(state: CaseState, index: int, plan: Plan | None) -> None:
        state.token += 1
        state.pending = plan
        # As the service's attempts table: a planned charge counts for the caps until it runs
        # or another plan replaces it.
        charging = plan is not None and plan.kind is PlanKind.CHARGE
        world.plan(state.key, plan.method_id if plan and charging else None, plan.at if plan else None)
        if plan is None:
            _finish(state, progress)
        else:
            push(plan.at, index, _Event.DUE, state.token)

    while queue:
        now, _, index, event, token = heapq.heappop(queue)
        state = states[index]
        if state.done:
            continue
        if event is _Event.OPEN:
            method = state.customer.primary
            failed = ChargeResult(False, state.customer.decline_code)
            _record(state, world, now, method.id, failed, reason="the failure that opened the case")
            apply(state, index, policy.after_failure(state, now, world))
        elif event is _Event.CARD:
            card = state.customer.new_card
            if card is not None and state.attempts:
                replacement = policy.after_card_attached(state, now, world, card)
                if replacement is not None:
                    apply(state, index, replacement)
        elif token == state.token and state.pending is not None:
            _run_plan(state, index, state.pending, now, world, policy, population.seed, apply)
    return RunResult(policy.name, population.name, tuple(s.result() for s in states))


def _run_plan(
    state: CaseState,
    index: int,
    plan: Plan,
    now: datetime,
    world: World,
    policy: Policy,
    seed: int,
    apply: Callable[[CaseState, int, Plan | None], None],
) -> None:
    if plan.kind is PlanKind.END:
        apply(state, index, None)
        return
    if plan.kind is PlanKind.LOOKUP:
        apply(state, index, policy.after_lookup(state, now, world))
        return
    method_id = plan.method_id or state.customer.default_method_at(now).id
    world.plan(state.key, None, None)  # planned no more: made, below
    outcome = charge(state.customer, method_id, now, previous_on_card=world.last_on(method_id), seed=seed)
    _record(state, world, now, method_id, outcome, reason=plan.reason)
    if outcome.succeeded:
        state.recovered_at = now
        apply(state, index, None)
    else:
        apply(state, index, policy.after_failure(state, now, world))


def _record(
    state: CaseState, world: World, now: datetime, method_id: str, outcome: ChargeResult, *, reason: str
) -> None:
    method = state.customer.instrument(method_id)
    brand = method.brand if method is not None else None
    kind = method.kind if method is not None else "card"
    retried = state.attempts[-1].decline_code if state.attempts else None
    category = None
    if not outcome.succeeded:
        advice = classify_decline(
            decline_code=outcome.decline_code, card_brand=brand, payment_method_kind=kind
        )
        category = advice.category
        state.history = AttemptHistory((*state.history.attempts, PastAttempt(now, method_id, brand, advice)))
    state.attempts.append(
        AttemptRecord(
            now,
            method_id,
            brand,
            outcome.succeeded,
            outcome.decline_code,
            category,
            len(state.attempts) + 1,
            retried,
            reason,
        )
    )
    world.record(method_id, now, never=category is DeclineCategory.NEVER)


def _finish(state: CaseState, progress: Progress | None) -> None:
    state.done = True
    if progress is not None:
        progress(1)
