"""Ground truth of a simulated customer, and what a charge at a given instant on a given method returns.

The scheduler never sees any of this: it sees decline codes, times and stored methods, as in
production. Every draw is a pure function of (population seed, customer, method, instant), so
two policies that charge the same card at the same instant get the same answer (common random
numbers), and a run is reproducible whatever order the engine visits cases in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from dunning.retry.domain.methods import StoredMethod
from dunning.simulation.paycycles import PayCycle

# Within this long of the previous attempt an issuer's velocity checks cut the odds.
VELOCITY_WINDOW = timedelta(hours=20)
VELOCITY_FACTOR = 0.35
# Money that trickles in between paydays (a refund, a transfer from family).
TRICKLE = 0.02


class Cause(StrEnum):
    """Why the primary method fails, which decides when (if ever) it can succeed."""

    FUNDS = "funds"  # no money until the customer's next real payday, then it drains
    TRANSIENT = "transient"  # a processor or issuer fault that clears after ``clears_at``
    ISSUER = "issuer"  # the issuer refuses until ``clears_at`` (None: for good); dislikes quick retries
    DEAD = "dead"  # lost, stolen, fraud, revoked: never succeeds (a `never` decline)
    NEEDS_CUSTOMER = "needs_customer"  # expired, wrong CVC, 3-D Secure: never without the customer


@dataclass(frozen=True, slots=True)
class Instrument:
    """A payment method of the customer and, for alternates and new cards, its chance per attempt."""

    id: str
    kind: str
    brand: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    created: datetime
    p_success: float = 0.0

    def stored(self, *, is_default: bool | None = None) -> StoredMethod:
        return StoredMethod(
            id=self.id,
            kind=self.kind,
            brand=self.brand,
            exp_month=self.exp_month,
            exp_year=self.exp_year,
            is_default=self.is_default if is_default is None else is_default,
            created=self.created,
            last4=self.id[-4:].rjust(4, "0"),
        )


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    amount: int  # minor units
    currency: str
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    zone: str  # the customer's real IANA zone (outcomes follow it)
    zone_known: bool  # whether the scheduler is told it (else it plans in UTC)
    cause: Cause
    decline_code: str  # what the primary returns while the cause holds
    primary: Instrument
    invoices: tuple[Invoice, ...]
    pay_cycle: PayCycle | None = None
    paid_hour: int = 4  # local hour pay lands on a payday
    drain_hours: float = 72.0  # pay is spent (linearly) within this long
    p_covered: float = 0.85  # chance a given payday covers the invoice
    clears_at: datetime | None = None
    p_ok: float = 0.9  # chance of success once the cause no longer holds
    alternates: tuple[Instrument, ...] = ()
    new_card: Instrument | None = None
    new_card_at: datetime | None = None  # when the customer attaches it (after a message)
    # Backtests: instants between which the primary would have succeeded (replaces the cause model).
    open_windows: tuple[tuple[datetime, datetime], ...] | None = None
    noise_code: str = "do_not_honor"  # what an issuer sometimes says instead of the real reason
    p_noise: float = 0.0

    @property
    def broke_since(self) -> date:
        first = min(invoice.failed_at for invoice in self.invoices)
        return first.astimezone(_zone(self.zone)).date()

    @property
    def scheduler_tz(self) -> str | None:
        return self.zone if self.zone_known else None

    def methods_at(self, at: datetime) -> tuple[Instrument, ...]:
        """The stored methods a lookup at ``at`` would find."""
        attached = self.new_card is not None and self.new_card_at is not None and self.new_card_at <= at
        return (self.primary, *self.alternates, *((self.new_card,) if attached and self.new_card else ()))

    def default_method_at(self, at: datetime) -> Instrument:
        attached = self.new_card is not None and self.new_card_at is not None and self.new_card_at <= at
        return self.new_card if attached and self.new_card is not None else self.primary

    def instrument(self, method_id: str) -> Instrument | None:
        every = (self.primary, *self.alternates, *((self.new_card,) if self.new_card else ()))
        return next((m for m in every if m.id == method_id), None)


@dataclass(frozen=True, slots=True)
class ChargeResult:
    succeeded: bool
    decline_code: str | None


def charge(
    customer: Customer, method_id: str, at: datetime, *, previous_on_card: datetime | None, seed: int
) -> ChargeResult:
    """What the processor answers for a charge on ``method_id`` at ``at``."""
    draw = _uniform(seed, customer.id, method_id, at)
    if method_id != customer.primary.id:
        method = customer.instrument(method_id)
        if method is None:
            return ChargeResult(False, "invalid_account")
        if _expired(method, at):
            return ChargeResult(False, "expired_card")
        return ChargeResult(True, None) if draw < method.p_success else ChargeResult(False, "generic_decline")
    p = success_probability(customer, at, previous_on_card, seed=seed)
    if draw < p:
        return ChargeResult(True, None)
    # A second, independent draw for the code, so noise does not correlate with success.
    noisy = _uniform(seed, customer.id, "noise", at) < customer.p_noise
    return ChargeResult(False, customer.noise_code if noisy else customer.decline_code)


def success_probability(
    customer: Customer, at: datetime, previous_on_card: datetime | None, *, seed: int
) -> float:
    """The chance a charge on the primary method succeeds at ``at`` (ground truth, not an estimate)."""
    cause = customer.cause
    if cause in (Cause.DEAD, Cause.NEEDS_CUSTOMER):
        return 0.0
    if customer.open_windows is not None:
        inside = any(start <= at < end for start, end in customer.open_windows)
        return customer.p_ok if inside else 0.0
    if cause is Cause.FUNDS:
        return _funds(customer, at, seed)
    if customer.clears_at is None or at < customer.clears_at:
        return 0.0
    if cause is Cause.ISSUER and previous_on_card is not None and at - previous_on_card < VELOCITY_WINDOW:
        return customer.p_ok * VELOCITY_FACTOR
    return customer.p_ok


def _funds(customer: Customer, at: datetime, seed: int) -> float:
    cycle = customer.pay_cycle
    if cycle is None:
        return TRICKLE
    zone = _zone(customer.zone)
    local = at.astimezone(zone)
    payday = cycle.last_payday(local.date(), customer.broke_since)
    if payday is not None and local.time() < time(customer.paid_hour):
        # Not landed yet today: the previous payday's money, if any, is what there is.
        payday = cycle.last_payday(payday - timedelta(days=1), customer.broke_since)
    if payday is None:
        return TRICKLE
    landed = datetime.combine(payday, time(customer.paid_hour), tzinfo=zone)
    hours = (at - landed).total_seconds() / 3600
    covered = _uniform(seed, customer.id, "payday", landed) < customer.p_covered
    if not covered or hours >= customer.drain_hours:
        return TRICKLE
    return max(TRICKLE, customer.p_ok * (1.0 - hours / customer.drain_hours))


def _expired(method: Instrument, at: datetime) -> bool:
    if method.exp_year is None or method.exp_month is None:
        return False
    return (at.year, at.month) > (method.exp_year, method.exp_month)


@lru_cache(maxsize=512)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


def _uniform(seed: int, customer_id: str, what: str, at: datetime) -> float:
    # random.Random seeds a str through SHA-512: stable across processes and PYTHONHASHSEED.
    return random.Random(f"{seed}|{customer_id}|{what}|{at.timestamp():.0f}").random()
