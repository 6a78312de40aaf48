"""Fit the retry service's learner (``OutcomeStats``) from simulated or imported attempt outcomes.

The outcomes are what ``attempt_store.learned_stats`` feeds the service: each of our charges
(not the failure that opened the case) with its attempt number and the decline it was
retrying, newest 20,000. The service reads features in UTC (it stores no time zone with an
outcome); ``local_features`` passes the customer's zone instead, to measure what that changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from dunning.retry.domain.learning import AttemptOutcome, OutcomeStats
from dunning.simulation.cases import CaseResult

LEARNING_ROWS = 20_000  # as attempt_store.LEARNING_ROWS


def outcomes_of(cases: Iterable[CaseResult], *, local_features: bool) -> list[AttemptOutcome]:
    outcomes = [
        AttemptOutcome(
            at=attempt.at,
            succeeded=attempt.succeeded,
            decline_code=attempt.retried_code,
            attempt_number=attempt.number,
            customer_tz=case.customer.scheduler_tz if local_features else None,
        )
        for case in cases
        for attempt in case.attempts
        if attempt.number > 1
    ]
    outcomes.sort(key=lambda o: o.at, reverse=True)
    return outcomes[:LEARNING_ROWS]


def fit(outcomes: Iterable[AttemptOutcome]) -> OutcomeStats:
    return OutcomeStats.from_outcomes(outcomes)
