"""The generator: deterministic by seed, and its ground truth is what docs/simulation.md says."""

from __future__ import annotations

from datetime import datetime

import pytest

from dunning.simulation.population import generate
from dunning.simulation.presets import PRESETS, preset
from dunning.simulation.truth import Cause


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_same_seed_same_population_other_seed_another(name: str) -> None:
    assert generate(PRESETS[name], 60, 3) == generate(PRESETS[name], 60, 3)
    assert generate(PRESETS[name], 60, 3).customers != generate(PRESETS[name], 60, 4).customers


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_ground_truth_is_consistent(name: str) -> None:
    p = PRESETS[name]
    population = generate(p, 400, 11)
    zones = {r.zone: r.currency for r in p.regions}
    counts = {n for n, _ in p.invoices}
    ids = [
        m.id for c in population.customers for m in c.methods_at(datetime.max.replace(tzinfo=p.start.tzinfo))
    ]
    assert len(ids) == len(set(ids)), "payment method ids are unique across customers"
    for c in population.customers:
        assert len(c.invoices) in counts
        assert all(i.currency == zones[c.zone] and i.amount > 0 for i in c.invoices)
        assert (c.pay_cycle is not None) == (c.cause is Cause.FUNDS)
        assert c.decline_code in dict(p.codes[c.cause])
        first = min(i.failed_at for i in c.invoices)
        if c.decline_code == "expired_card":
            assert (c.primary.exp_year, c.primary.exp_month) < (first.year, first.month)
        if c.new_card_at is not None:
            assert c.new_card_at > first
        if c.clears_at is not None:
            assert c.cause in (Cause.TRANSIENT, Cause.ISSUER)
            assert c.clears_at >= first
    causes = {c.cause for c in population.customers}
    assert causes == {cause for cause, _ in p.causes}, "400 customers show every cause of the preset"


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="consumer-monthly"):
        preset("nope")
