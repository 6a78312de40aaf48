"""One study: build (or import) the population, fit the learner on other data, run every policy, measure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dunning.simulation.backtest import HISTORY, as_run, split_by_time, to_population
from dunning.simulation.csv_import import read_history
from dunning.simulation.engine import Progress, simulate
from dunning.simulation.learner import fit, outcomes_of
from dunning.simulation.lineup import (
    OURS,
    OURS_LEARNED,
    OURS_LEARNED_LOCAL,
    OURS_ONE_METHOD,
    TENANT_POLICY,
    Learned,
    lineup,
    run_all,
)
from dunning.simulation.metrics import PolicyMetrics, measure
from dunning.simulation.policies import BASELINES, OursPolicy
from dunning.simulation.population import Population, generate
from dunning.simulation.presets import preset

ProgressFactory = Callable[[str, int], Progress]  # (label, cases) -> per-case callback


@dataclass(frozen=True, slots=True)
class StudySpec:
    preset: str = "consumer-monthly"
    customers: int = 2000
    seed: int = 1
    csv: Path | None = None
    learn_from: str | None = None  # "PRESET/SEED"; default: the same preset with seed + 1000
    learn: bool = True


@dataclass(frozen=True, slots=True)
class StudyResult:
    title: str
    population: str
    cases: int
    learned_from: str | None
    metrics: tuple[PolicyMetrics, ...]
    policy_notes: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        learned = (
            f"learner fitted on {self.learned_from}, evaluated on {self.population}"
            if self.learned_from
            else "no learner"
        )
        return f"{self.cases} cases from {self.population}; {learned}."


def parse_learn_from(text: str) -> tuple[str, int]:
    name, sep, seed = text.rpartition("/")
    if not sep or not name or not seed.lstrip("-").isdigit():
        raise ValueError(f"--learn-from takes PRESET/SEED, e.g. mixed-global/7, got {text!r}")
    preset(name)
    return name, int(seed)


def _train(population: Population, progress: ProgressFactory | None) -> Learned:
    """The heuristic's own outcomes on a training population, read as the service would read them."""
    callback = progress(f"training run on {population.name}", population.cases) if progress else None
    run = simulate(population, OursPolicy(OURS, TENANT_POLICY), progress=callback)
    return Learned(
        population.name,
        fit(outcomes_of(run.cases, local_features=False)),
        fit(outcomes_of(run.cases, local_features=True)),
    )


def run_study(spec: StudySpec, progress: ProgressFactory | None = None) -> StudyResult:
    history = None
    if spec.csv is not None:
        imported = read_history(spec.csv)
        older, newer = split_by_time(imported) if spec.learn and spec.learn_from is None else ((), imported)
        population = to_population(newer, f"{spec.csv.name} (newer {len(newer)} of {len(imported)} cases)")
        history = measure(as_run(newer, population))
        learned = None
        if older:
            past = to_population(older, f"{spec.csv.name} (older {len(older)} cases)")
            run = as_run(older, past)
            learned = Learned(
                past.name,
                fit(outcomes_of(run.cases, local_features=False)),
                fit(outcomes_of(run.cases, local_features=True)),
            )
        title = f"Backtest of {spec.csv.name}"
    else:
        population = generate(preset(spec.preset), spec.customers, spec.seed)
        learned = None
        title = f"Simulation: {spec.preset}, {spec.customers} customers, seed {spec.seed}"
    if spec.learn and learned is None:
        name, seed = parse_learn_from(spec.learn_from) if spec.learn_from else (spec.preset, spec.seed + 1000)
        if spec.csv is None and (name, seed) == (spec.preset, spec.seed):
            raise ValueError(
                "--learn-from must differ from the evaluated preset/seed:"
                " that would grade on the training set"
            )
        learned = _train(generate(preset(name), spec.customers, seed), progress)
    policies = lineup(learned)
    runs = run_all(
        population, policies, progress=(lambda name: progress(name, population.cases)) if progress else None
    )
    metrics = ([history] if history else []) + [measure(run) for run in runs]
    return StudyResult(
        title,
        population.name,
        population.cases,
        learned.source if learned else None,
        tuple(metrics),
        _notes(history is not None, learned is not None),
    )


def _notes(with_history: bool, with_learning: bool) -> tuple[tuple[str, str], ...]:
    notes = [(HISTORY, "what the tenant's own schedule did, from the CSV")] if with_history else []
    notes += [(b.name, b.description) for b in BASELINES]
    notes += [
        (
            OURS,
            "the retry service's scheduler (next_attempt_slot), default policy, other stored methods allowed",
        ),
        (OURS_ONE_METHOD, "the same, without consent to charge other stored methods"),
    ]
    if with_learning:
        notes += [
            (
                OURS_LEARNED,
                "the scheduler with OutcomeStats fitted on other data, read in UTC as the service does",
            ),
            (OURS_LEARNED_LOCAL, "the same learner with outcomes read in the customer's time zone"),
        ]
    return tuple(notes)
