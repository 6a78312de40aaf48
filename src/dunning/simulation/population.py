"""The synthetic population generator: customers with failed invoices and their ground truth, by seed."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from dunning.simulation.paycycles import CycleKind, PayCycle
from dunning.simulation.presets import AMOUNT_SCALE, Preset, Region
from dunning.simulation.truth import Cause, Customer, Instrument, Invoice

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Population:
    name: str
    seed: int
    customers: tuple[Customer, ...]

    @property
    def cases(self) -> int:
        return sum(len(c.invoices) for c in self.customers)


def generate(preset: Preset, customers: int, seed: int) -> Population:
    """``customers`` customers of ``preset``; the same arguments always give the same population."""
    if customers < 1:
        raise ValueError(f"a population needs at least one customer, got {customers}")
    rng = random.Random(f"population|{preset.name}|{seed}")
    made = tuple(_customer(rng, preset, f"cus_{seed}_{i:06d}") for i in range(customers))
    return Population(f"{preset.name}/{seed}", seed, made)


def _pick(rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    values = [v for v, _ in options]
    return rng.choices(values, weights=[w for _, w in options])[0]


def _customer(rng: random.Random, preset: Preset, cid: str) -> Customer:
    region = _pick(rng, [(r, r.weight) for r in preset.regions])
    cause = _pick(rng, preset.causes)
    failed_at = _failure_time(rng, preset)
    brand = _pick(rng, preset.brands)
    code = _pick(rng, preset.codes[cause])
    # A card that fails with "expired" really is expired; other primaries are valid for years.
    # (it ran to the end of last month).
    expired = failed_at.replace(day=1) - timedelta(days=1)
    card_expiry = expired if code == "expired_card" else failed_at + timedelta(days=rng.randint(60, 1500))
    primary = Instrument(
        f"{cid}_pm_0",
        "card",
        brand,
        card_expiry.month,
        card_expiry.year,
        True,
        failed_at - timedelta(days=rng.randint(40, 1500)),
    )
    count = _pick(rng, preset.invoices)
    invoices = tuple(
        Invoice(
            f"{cid}_in_{k}",
            _amount(rng, preset, region),
            region.currency,
            failed_at + timedelta(minutes=rng.randint(0, 180) if k else 0),
        )
        for k in range(count)
    )
    new_card, new_card_at = _new_card(rng, preset, cause, cid, failed_at)
    lo, hi = preset.p_covered
    dlo, dhi = preset.drain_hours
    clears_at = None
    if cause is Cause.TRANSIENT:
        mean = preset.transient_mean_hours * (12 if rng.random() < preset.p_transient_long else 1)
        clears_at = failed_at + timedelta(hours=rng.expovariate(1 / mean))
    elif cause is Cause.ISSUER and rng.random() >= preset.p_issuer_never:
        clears_at = failed_at + timedelta(days=rng.expovariate(1 / preset.issuer_mean_days))
    return Customer(
        id=cid,
        zone=region.zone,
        zone_known=rng.random() < preset.zone_known,
        cause=cause,
        decline_code=code,
        primary=primary,
        invoices=invoices,
        pay_cycle=_cycle(rng, region, failed_at.date()) if cause is Cause.FUNDS else None,
        paid_hour=rng.randint(0, 7),
        drain_hours=rng.uniform(dlo, dhi),
        p_covered=rng.uniform(lo, hi),
        clears_at=clears_at,
        p_ok=preset.p_ok,
        alternates=_alternates(rng, preset, cid, failed_at),
        new_card=new_card,
        new_card_at=new_card_at,
        p_noise=preset.p_noise if cause in (Cause.FUNDS, Cause.ISSUER) else 0.0,
    )


def _failure_time(rng: random.Random, preset: Preset) -> datetime:
    day = preset.start + timedelta(days=rng.randrange(preset.spread_days))
    return day.replace(hour=rng.choice(preset.billing_hours_utc), minute=rng.randrange(60))


def _amount(rng: random.Random, preset: Preset, region: Region) -> int:
    usd_like = preset.amount_median * math.exp(rng.gauss(0, preset.amount_sigma))
    return max(1, round(usd_like * AMOUNT_SCALE.get(region.currency, 1.0)))


def _cycle(rng: random.Random, region: Region, near: date) -> PayCycle:
    if rng.random() < region.irregular:
        # Gig work: paid every 2 to 9 days, from a few weeks before the failure to well after it.
        day, dates = near - timedelta(days=30), set()
        while day < near + timedelta(days=90):
            day += timedelta(days=rng.randint(2, 9))
            dates.add(day)
        return PayCycle(CycleKind.LISTED, dates=frozenset(dates))
    return _pick(rng, region.cycles)


def _alternates(rng: random.Random, preset: Preset, cid: str, failed_at: datetime) -> tuple[Instrument, ...]:
    if rng.random() >= preset.p_alternate:
        return ()
    debit = rng.random() < preset.p_alternate_debit
    lifetime = -40 if rng.random() < preset.p_alternate_expired else rng.randint(60, 1500)
    expires = failed_at + timedelta(days=lifetime)
    return (
        Instrument(
            f"{cid}_pm_1",
            "sepa_debit" if debit else "card",
            None if debit else _pick(rng, preset.brands),
            # A bank debit does not expire; an expired one would be a closed account.
            None if debit and lifetime > 0 else expires.month,
            None if debit and lifetime > 0 else expires.year,
            False,
            failed_at - timedelta(days=rng.randint(10, 900)),
            preset.p_alternate_success,
        ),
    )


def _new_card(
    rng: random.Random, preset: Preset, cause: Cause, cid: str, failed_at: datetime
) -> tuple[Instrument | None, datetime | None]:
    if rng.random() >= preset.p_new_card.get(cause, 0.0):
        return None, None
    message = _pick(rng, list(zip(preset.message_days, (0.4, 0.3, 0.2, 0.1), strict=False)))
    at = failed_at + timedelta(days=message, hours=rng.expovariate(1 / preset.update_delay_hours))
    expires = at + timedelta(days=rng.randint(700, 1800))
    card = Instrument(
        f"{cid}_pm_9", "card", _pick(rng, preset.brands), expires.month, expires.year, True, at, 0.95
    )
    return card, at
