"""The policies compared in one run, and running them all over a population with progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from dunning.retry.domain.learning import OutcomeStats
from dunning.retry.domain.policy import RetryPolicy
from dunning.simulation.cases import RunResult
from dunning.simulation.engine import Progress, simulate
from dunning.simulation.policies import BASELINES, OursPolicy, Policy
from dunning.simulation.population import Population

OURS = "ours"
OURS_ONE_METHOD = "ours, default method only"
OURS_LEARNED = "ours + learning"
OURS_LEARNED_LOCAL = "ours + learning (local-time features)"

# The simulated tenant runs its own retries and consents to charging other stored methods;
# everything else is the retry service's default policy.
TENANT_POLICY = RetryPolicy(allow_alternate_methods=True)


@dataclass(frozen=True, slots=True)
class Learned:
    """The learner fitted on training data, once as the service reads features (UTC) and once locally."""

    source: str
    utc: OutcomeStats
    local: OutcomeStats


def lineup(learned: Learned | None, policy: RetryPolicy = TENANT_POLICY) -> list[Policy]:
    ours: list[Policy] = [
        OursPolicy(OURS, policy),
        OursPolicy(OURS_ONE_METHOD, replace(policy, allow_alternate_methods=False)),
    ]
    if learned is not None:
        ours += [
            OursPolicy(OURS_LEARNED, policy, learned.utc),
            OursPolicy(OURS_LEARNED_LOCAL, policy, learned.local),
        ]
    baselines: list[Policy] = list(BASELINES)
    return baselines + ours


def run_all(
    population: Population,
    policies: Sequence[Policy],
    *,
    progress: Callable[[str], Progress] | None = None,
) -> list[RunResult]:
    """Each policy over the same population; ``progress(name)`` gives a per-case callback for that policy."""
    return [simulate(population, p, progress=progress(p.name) if progress else None) for p in policies]


def is_ours(policy_name: str) -> bool:
    return policy_name.startswith(OURS)
