"""Hand-made customers for simulation tests: one known ground truth each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dunning.simulation.paycycles import CycleKind, PayCycle
from dunning.simulation.population import Population
from dunning.simulation.truth import Cause, Customer, Instrument, Invoice

FAILED_AT = datetime(2025, 3, 4, 14, 30, tzinfo=UTC)  # a Tuesday


def make_customer(
    *,
    cid: str = "cus_t",
    cause: Cause = Cause.DEAD,
    code: str = "stolen_card",
    brand: str = "visa",
    invoices: int = 1,
    zone: str = "America/New_York",
    new_card_after: timedelta | None = None,
    pay_cycle: PayCycle | None = None,
    clears_after: timedelta | None = None,
) -> Customer:
    primary = Instrument(f"{cid}_pm_0", "card", brand, 12, 2030, True, FAILED_AT - timedelta(days=300))
    new_card = None
    if new_card_after is not None:
        at = FAILED_AT + new_card_after
        new_card = Instrument(f"{cid}_pm_9", "card", "visa", 12, 2030, True, at, 1.0)
    return Customer(
        id=cid,
        zone=zone,
        zone_known=True,
        cause=cause,
        decline_code=code,
        primary=primary,
        invoices=tuple(Invoice(f"{cid}_in_{k}", 1500, "USD", FAILED_AT) for k in range(invoices)),
        pay_cycle=pay_cycle or (PayCycle(CycleKind.WEEKLY) if cause is Cause.FUNDS else None),
        clears_at=FAILED_AT + clears_after if clears_after is not None else None,
        new_card=new_card,
        new_card_at=new_card.created if new_card else None,
        p_covered=1.0,
    )


def population_of(*customers: Customer) -> Population:
    return Population("hand-made", 7, customers)
