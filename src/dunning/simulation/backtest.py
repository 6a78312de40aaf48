"""Backtests on a tenant's imported history: what happened, a conservative ground truth, a time split.

The history shows only what its own schedule tried, so the ground truth built from it is
deliberately conservative: a case that was never recovered cannot be recovered by retrying
its card (only the customer can fix it, and the history shows no such fix), and a case that
was recovered is recoverable only close to when it actually was (from the last failure before
the success, at most a day before it, until three days after it). A method other than the
failing one that paid is treated as a card the customer attached just before it paid.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dunning.retry.domain.decline_codes import DeclineCategory, RetryTiming
from dunning.retry.domain.declines import classify_decline
from dunning.simulation.cases import AttemptRecord, CaseResult, RunResult
from dunning.simulation.csv_import import ImportedAttempt, ImportedCase
from dunning.simulation.policies import CARD_UPDATE_DELAY
from dunning.simulation.population import Population
from dunning.simulation.truth import Cause, Customer, Instrument, Invoice

HISTORY = "history (as it happened)"
WINDOW_BEFORE = timedelta(hours=24)
WINDOW_AFTER = timedelta(hours=72)
_FAR = 2099


def split_by_time(
    cases: tuple[ImportedCase, ...],
) -> tuple[tuple[ImportedCase, ...], tuple[ImportedCase, ...]]:
    """The older half of the cases (to fit the learner) and the newer half (to evaluate on)."""
    ordered = sorted(cases, key=lambda c: (c.opened_at, c.case_id))
    middle = len(ordered) // 2
    return tuple(ordered[:middle]), tuple(ordered[middle:])


def to_population(cases: tuple[ImportedCase, ...], name: str) -> Population:
    return Population(name, 0, tuple(_customer(case) for case in cases))


def as_run(cases: tuple[ImportedCase, ...], population: Population) -> RunResult:
    """The history itself as a run, measured like any policy."""
    results = []
    for case, customer in zip(cases, population.customers, strict=True):
        records = [_record(case, a, k) for k, a in enumerate(case.attempts)]
        won = next((a.at for a in case.attempts if a.succeeded), None)
        results.append(CaseResult(customer, customer.invoices[0], tuple(records), won))
    return RunResult(HISTORY, population.name, tuple(results))


def _record(case: ImportedCase, attempt: ImportedAttempt, index: int) -> AttemptRecord:
    category = None
    if not attempt.succeeded:
        category = classify_decline(
            decline_code=attempt.decline_code,
            card_brand=attempt.card_brand,
            payment_method_kind=attempt.method_kind,
        ).category
    retried = case.attempts[index - 1].decline_code if index else None
    return AttemptRecord(
        attempt.at,
        attempt.method_id,
        attempt.card_brand,
        attempt.succeeded,
        attempt.decline_code,
        category,
        index + 1,
        retried,
        f"history, line {attempt.line}",
    )


def _cause(first: ImportedAttempt) -> Cause:
    advice = classify_decline(
        decline_code=first.decline_code, card_brand=first.card_brand, payment_method_kind=first.method_kind
    )
    if advice.category is DeclineCategory.NEVER:
        return Cause.DEAD
    if advice.category is DeclineCategory.CUSTOMER_ACTION:
        return Cause.NEEDS_CUSTOMER
    return {RetryTiming.PAYDAY: Cause.FUNDS, RetryTiming.SOON: Cause.TRANSIENT}.get(
        advice.timing, Cause.ISSUER
    )


def _customer(case: ImportedCase) -> Customer:
    first = case.attempts[0]
    primary = Instrument(first.method_id, first.method_kind, first.card_brand, 12, _FAR, True, first.at)
    cause = _cause(first)
    won = next((a for a in case.attempts if a.succeeded), None)
    windows: tuple[tuple[datetime, datetime], ...] = ()
    new_card = None
    if (
        won is not None
        and won.method_id == first.method_id
        and cause not in (Cause.DEAD, Cause.NEEDS_CUSTOMER)
    ):
        failures = [a.at for a in case.attempts if not a.succeeded and a.at < won.at]
        start = max(max(failures) + timedelta(seconds=1), won.at - WINDOW_BEFORE)
        windows = ((start, won.at + WINDOW_AFTER),)
    elif won is not None:
        new_id = won.method_id if won.method_id != first.method_id else f"{won.method_id}#updated"
        new_card = Instrument(
            new_id, won.method_kind, won.card_brand, 12, _FAR, True, won.at - CARD_UPDATE_DELAY, 1.0
        )
    return Customer(
        id=f"{case.customer_id}/{case.case_id}",
        zone=case.customer_tz or "UTC",
        zone_known=case.customer_tz is not None,
        cause=cause,
        decline_code=first.decline_code or "unknown",
        primary=primary,
        invoices=(Invoice(case.case_id, case.amount, case.currency, first.at),),
        p_ok=1.0,
        new_card=new_card,
        new_card_at=new_card.created if new_card else None,
        open_windows=windows,
    )
