"""The next attempt of a dunning case: a slot on some method with its reason, or a stop and the end action."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dunning.retry.domain.caps import check_card_caps, check_case_limits, window_closes_at
from dunning.retry.domain.case_view import CaseView
from dunning.retry.domain.decline_codes import RetryTiming
from dunning.retry.domain.declines import DeclineAdvice
from dunning.retry.domain.history import AttemptHistory, ruled_out_elsewhere
from dunning.retry.domain.learning import OutcomeStats, SlotFeatures
from dunning.retry.domain.local_time import as_utc, describe, human_duration, resolve_zone
from dunning.retry.domain.methods import MethodChange, MethodChangeKind, StoredMethod, order_alternates
from dunning.retry.domain.policy import EndAction, RetryMode, RetryPolicy
from dunning.retry.domain.timing import Candidate, plan_retry


@dataclass(frozen=True, slots=True)
class Slot:
    due_at: datetime
    method_id: str | None  # None: the invoice's own default method
    attempt_number: int
    reason: str
    success_probability: float | None = None


@dataclass(frozen=True, slots=True)
class Stop:
    """No more charges from us. Run ``end_action`` at ``end_at`` unless a new payment method re-plans."""

    reason: str
    end_action: EndAction | None
    end_at: datetime | None


def _waiting_stop(case: CaseView, why: str) -> Stop:
    action = case.policy.end_action
    return Stop(
        f"{why}; waiting for the customer to add or update a payment method, "
        f"then {action} when the window closes at {case.closes:%Y-%m-%d %H:%M} UTC",
        action,
        case.closes,
    )


def next_attempt_slot(
    *,
    now: datetime,
    opened_at: datetime,
    history: AttemptHistory,
    advice: DeclineAdvice,
    policy: RetryPolicy,
    customer_tz: str | None,
    stats: OutcomeStats | None = None,
    card_attempt_times: Mapping[str, Sequence[datetime]] | None = None,
    methods: Sequence[StoredMethod] = (),
    method_id: str | None = None,
    change: MethodChange | None = None,
    never_declined: Mapping[str, datetime] | None = None,
) -> Slot | Stop:
    """Plan the case's next attempt after the decline described by ``advice``.

    ``method_id`` is the method that just failed (default: the last attempt's). ``card_attempt_times``
    maps a method id to every attempt on that card in any case, made or planned, for the
    network caps. ``never_declined`` maps a method id to its latest `never` decline in any
    case of the tenant: such a card is charged by no case (unless it changed since).
    ``methods`` are the customer's stored methods, for cascading when the tenant allows it.
    ``change`` is a payment method change the case is being re-planned for: a method attached or
    updated is charged after the cascade delay (a ``Stop`` without an end action says why not,
    and means "leave the plan as it is"); a method detached is never charged.
    """
    now = as_utc(now, "now")
    if policy.mode is RetryMode.OBSERVE:
        return Stop("observe mode: the processor retries this invoice; we only track and notify", None, None)
    limits = check_case_limits(attempts_made=len(history), opened_at=opened_at, at=now, policy=policy)
    if not limits.allowed:
        return Stop(f"dunning exhausted: {limits.reason}; {policy.end_action} now", policy.end_action, now)
    offered = change if change is not None and change.kind is not MethodChangeKind.DETACHED else None
    case = CaseView(
        now,
        window_closes_at(opened_at, policy),
        history,
        policy,
        resolve_zone(customer_tz),
        stats,
        card_attempt_times or {},
        tuple(methods) + ((offered.method,) if offered else ()),
        never_declined or {},
    )
    if offered is not None:
        return _charge_changed(case, offered)
    removed = change.method.id if change is not None else None
    current = method_id if method_id is not None else (history.last.method_id if history.last else None)
    updated_at = {m.id: m.updated_at for m in methods}
    own = history.unretryable_method_ids(updated_at)
    elsewhere = ruled_out_elsewhere(case.never_declined, updated_at)
    blocked = set(own | elsewhere) | ({removed} if removed else set())
    label = current or "the invoice's payment method"
    if change is not None and current == removed:
        why_not = f"{change.describe()}, so it cannot be charged"
    elif not advice.retry_same_method:
        why_not = f"{advice.reason}: {label} must not be charged again"
        failed_at = history.last.at if history.last else now
        changed = updated_at.get(current) if current is not None else None
        fresh = changed is not None and as_utc(changed, "updated_at") > failed_at
        if current is not None and current not in elsewhere and fresh:
            # The card was replaced or edited since (customer, network account updater): the
            # decline was about the old details.
            retried = _retry_changed_method(case, current, advice)
            if isinstance(retried, Slot):
                return retried
            why_not = retried
        if current is not None:
            blocked.add(current)
    elif current in own:
        why_not = f"an earlier decline on {label} ruled out charging it again"
    elif current is not None and current in elsewhere:
        declined_at = as_utc(case.never_declined[current], "never decline")
        why_not = (
            f"{label} was declined for good (lost, stolen, fraud or revoked) in another case "
            f"at {declined_at:%Y-%m-%d %H:%M} UTC, so no case charges it again"
        )
    elif _code_retries_used(history, current, advice):
        why_not = (
            f"{advice.reason}: {label} already had the {advice.max_retries} retries allowed for this code"
        )
    else:
        outcome = _retry_same_method(case, current, advice)
        if isinstance(outcome, Slot):
            return outcome
        why_not = outcome
    return _cascade(case, current, frozenset(blocked), why_not)


def _retry_changed_method(case: CaseView, method_id: str, advice: DeclineAdvice) -> Slot | str:
    delay = case.policy.cascade_delay
    due = case.first_within_caps(case.now + delay, method_id, local_hours=False)
    if due is None:
        return (
            f"{advice.reason}: {method_id} changed since, but no attempt on it fits the card caps and window"
        )
    return Slot(
        due,
        method_id,
        case.attempt_number,
        f"{advice.reason}, but {method_id} changed after that decline, so the new details get a try "
        f"after the {human_duration(delay)} cascade delay; {case.attempt_label}",
    )


def _charge_changed(case: CaseView, change: MethodChange) -> Slot | Stop:
    """A method the customer just added or fixed: the moment they most expect to be charged."""
    method = change.method
    tried = case.history.on_method(method.id)
    if change.kind is not MethodChangeKind.ATTACHED and not tried and not case.policy.allow_alternate_methods:
        # Editing some other stored card is no request to charge it; attaching one during dunning is.
        why = "this case never charged it and the tenant has not allowed charging other stored methods"
        return Stop(why, None, None)
    since = [a for a in tried if a.at >= as_utc(change.at, "change")]
    if since:
        # A late or repeated report of a change the method was already charged after.
        return Stop(f"it was declined after that change ({since[-1].advice.reason})", None, None)
    declined = case.never_declined.get(method.id)
    if declined is not None and as_utc(declined, "never decline") >= as_utc(change.at, "change"):
        return Stop("another case's charge on it was declined for good after that change", None, None)
    if method.is_expired(case.now):
        return Stop(f"it expired at the end of {method.exp_month}/{method.exp_year}", None, None)
    start = case.now + case.policy.cascade_delay
    due = case.first_within_caps(start, method.id, local_hours=False)
    if due is None:
        return Stop("no attempt on it fits the card caps before the window closes", None, None)
    return Slot(
        due,
        method.id,
        case.attempt_number,
        f"{change.describe()}: charging it {_after_delay(case, start, due)}; {case.attempt_label}",
    )


def _after_delay(case: CaseView, start: datetime, due: datetime) -> str:
    delay = case.policy.cascade_delay
    when = "at once" if delay == timedelta(0) else f"after the {human_duration(delay)} cascade delay"
    moved = "" if due == start else f", moved to {due:%Y-%m-%d %H:%M} UTC by waits or card caps"
    return when + moved


def _code_retries_used(history: AttemptHistory, method_id: str | None, advice: DeclineAdvice) -> bool:
    if advice.max_retries is None:
        return False
    declines_with_code = sum(1 for a in history.on_method(method_id) if a.advice.code == advice.code)
    # The first decline with a code is the failure, not a retry.
    return declines_with_code > advice.max_retries


def _retry_same_method(case: CaseView, method_id: str | None, advice: DeclineAdvice) -> Slot | str:
    last = case.history.last
    failed_at = last.at if last is not None else case.now
    earliest = max(case.now, failed_at)
    wait_note = ""
    if advice.min_wait is not None and failed_at + advice.min_wait > earliest:
        earliest = failed_at + advice.min_wait
        wait_note = f", waiting at least {human_duration(advice.min_wait)} after the decline as advised"
    streak = case.history.transient_streak() or (1 if advice.timing is RetryTiming.SOON else 0)
    plan = plan_retry(
        timing=advice.timing,
        failed_at=failed_at,
        earliest=earliest,
        closes=case.closes,
        zone=case.zone,
        policy=case.policy,
        transient_streak=streak,
        retries_of_method=max(len(case.history.on_method(method_id)) - 1, 0),
    )
    label = method_id or "the invoice's payment method"
    if not plan.candidates:
        return f"{advice.reason}: no retry of {label} fits before the window closes ({plan.rule})"
    caps, brand, times = case.policy.card_caps, case.brand_of(method_id), case.times_of(method_id)
    allowed = [c for c in plan.candidates if check_card_caps(times, brand, c.at, caps).allowed]
    heuristic = plan.candidates[0]
    notes: list[str] = []
    probability: float | None = None
    refusal = check_card_caps(times, brand, heuristic.at, caps)
    if not refusal.allowed:
        notes.append(f"moved later because {refusal.reason}")
    if allowed:
        chosen = allowed[0]
        if case.stats is not None:
            chosen, probability, note = _best_learned(case, case.stats, allowed, advice)
            notes.append(note)
    else:
        # Every candidate is capped: the first instant the caps free, inside the customer's hours.
        pushed = case.first_within_caps(heuristic.at, method_id, local_hours=True)
        if pushed is None:
            return f"{advice.reason}: {refusal.reason}, which is after the window closes"
        chosen = Candidate(pushed, heuristic.why)
    if case.zone.fallback_note:
        notes.append(case.zone.fallback_note)
    notes.append(case.attempt_label)
    special = f", {chosen.why}" if chosen.why else ""
    reason = (
        f"{advice.reason}. {plan.rule}{wait_note}. "
        f"Next try {describe(chosen.at, case.zone)}{special}; " + "; ".join(notes)
    )
    return Slot(chosen.at, method_id, case.attempt_number, reason, probability)


def _best_learned(
    case: CaseView, stats: OutcomeStats, allowed: list[Candidate], advice: DeclineAdvice
) -> tuple[Candidate, float, str]:
    scored = [
        (
            stats.estimate(
                SlotFeatures.at(
                    c.at, case.zone.zone, decline_code=advice.code, attempt_number=case.attempt_number
                )
            ),
            c,
        )
        for c in allowed
    ]
    # Highest probability wins; among equals the earliest, since money sooner is worth more.
    best_estimate, best = max(scored, key=lambda pair: (pair[0].probability, -pair[1].at.timestamp()))
    first_estimate, first = scored[0]
    learned = f"learned from {stats.attempts} outcomes"
    if best is first:
        note = f"{learned}, the earliest slot is also the best of {len(scored)}: {best_estimate.explain()}"
    else:
        note = (
            f"{learned}, chose the best of {len(scored)} candidate slots: {best_estimate.explain()}, "
            f"over {describe(first.at, case.zone)} at {first_estimate.probability:.0%}"
        )
    return best, best_estimate.probability, note


def _cascade(case: CaseView, current: str | None, blocked: frozenset[str], why_not: str) -> Stop | Slot:
    if not case.policy.allow_alternate_methods:
        return _waiting_stop(case, f"{why_not}; the tenant has not allowed charging other stored methods")
    alternates = order_alternates(
        case.methods, failed_method_id=current, hard_declined_ids=blocked, now=case.now
    )
    delay = case.policy.cascade_delay
    for method in alternates:
        start = case.now + delay
        for attempt in case.history.on_method(method.id):
            if attempt.advice.min_wait is not None:
                start = max(start, attempt.at + attempt.advice.min_wait)
        due = case.first_within_caps(start, method.id, local_hours=False)
        if due is None:
            continue
        return Slot(
            due,
            method.id,
            case.attempt_number,
            f"{why_not}; cascading to the customer's {method.describe()} "
            f"{_after_delay(case, case.now + delay, due)}; {case.attempt_label}",
        )
    skipped = len(case.methods) - len(alternates)
    return _waiting_stop(
        case,
        f"{why_not}; no other stored method can be charged before the window closes "
        f"({len(alternates)} usable, {skipped} expired, hard-declined or the failed one)",
    )
