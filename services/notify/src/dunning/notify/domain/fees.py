"""What a late invoice costs on top: statutory interest and fixed compensation for business debtors
(Directive 2011/7/EU) and the tenant's own dunning fee, in integer minor units."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from dunning.common.money import minor_unit_exponent, normalize_currency

# ECB main refinancing operations rate, 2.15% since 11 June 2025: the rate in force on
# 1 July 2025 and, as far as we know, on 1 January 2026. Tenants must update it each half-year
# (or list past half-years in ``reference_rates``).
DEFAULT_REFERENCE_RATE = Decimal("2.15")
# Art. 2(6): statutory interest is the reference rate plus at least eight percentage points.
STATUTORY_MARGIN = Decimal(8)
# The directive sets no day count; actual days over a 365-day year is what member states'
# central banks and courts use (and never overstates interest in a leap year).
DAYS_PER_YEAR = 365


@dataclass(frozen=True, slots=True)
class DunningFee:
    """The tenant's own reminder fee: a fixed amount and/or a percent of the principal, clamped.

    Off by default: a fee is owed only if the contract says so (15 U.S.C. 1692f(1) and
    12 CFR 1006.22(b) forbid collecting any amount the agreement or law does not authorise).
    """

    fixed: Mapping[str, int] = field(default_factory=dict)  # currency -> minor units
    percent: Decimal = Decimal(0)
    minimum: Mapping[str, int] = field(default_factory=dict)
    maximum: Mapping[str, int] = field(default_factory=dict)
    per_level: bool = False  # charged at every escalation level reached, or once per invoice

    def __post_init__(self) -> None:
        amounts = [*self.fixed.values(), *self.minimum.values(), *self.maximum.values()]
        if self.percent < 0 or any(amount < 0 for amount in amounts):
            raise ValueError("a dunning fee is never negative")


@dataclass(frozen=True, slots=True)
class LateChargePolicy:
    reference_rate_percent: Decimal = DEFAULT_REFERENCE_RATE
    margin_points: Decimal = STATUTORY_MARGIN
    # Art. 6(1): at least EUR 40 per invoice. Other currencies only when the tenant sets them
    # (a non-euro member state's own equivalent), never by converting at some day's rate.
    fixed_compensation: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({"EUR": 4000}))
    dunning_fee: DunningFee | None = None
    # Past half-years' reference rates, keyed by 1 January or 1 July: Art. 2(6) and 3 fix the
    # rate in force on the half-year's first day for the whole half-year.
    reference_rates: Mapping[date, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.margin_points < 0:
            raise ValueError("the interest margin is never negative")
        if any(amount < 0 for amount in self.fixed_compensation.values()):
            raise ValueError("fixed compensation is never negative")
        if any((day.month, day.day) not in ((1, 1), (7, 1)) for day in self.reference_rates):
            raise ValueError("reference rates are set per half-year: key them by 1 January or 1 July")


@dataclass(frozen=True, slots=True)
class LateCharges:
    interest: int  # minor units
    compensation: int
    fee: int
    days_late: int
    explanation: str

    @property
    def total(self) -> int:
        return self.interest + self.compensation + self.fee


def late_charges(
    principal: int,
    currency: str,
    *,
    due: date,
    on: date,
    policy: LateChargePolicy,
    b2b: bool,
    levels: int = 1,
) -> LateCharges:
    """What is owed on top of ``principal`` on day ``on`` for an invoice due on ``due``.

    ``levels`` is how many escalation levels have been reached (for a per-level dunning fee).
    """
    if isinstance(principal, bool) or not isinstance(principal, int) or principal < 0:
        raise ValueError(f"principal is a non-negative integer of minor units, got {principal!r}")
    currency = normalize_currency(currency)
    money = _Formatter(currency)
    # Art. 3(3)(a): interest runs from the day after the due date; on the due date nothing is late.
    days_late = max(0, (on - due).days)
    if days_late == 0 or principal == 0:
        why = f"not late on {on} (due {due})" if days_late == 0 else "nothing is owed"
        return LateCharges(0, 0, 0, days_late, f"{money(principal)}: {why}; no charges")
    parts = [f"{money(principal)} is {days_late} days late (due {due}, on {on})"]
    interest = compensation = 0
    if b2b:
        interest, described = _statutory_interest(principal, due, on, policy)
        parts.append(f"statutory interest {described} = {money(interest)} (Directive 2011/7/EU Art. 2(6), 3)")
        # Art. 6(1)-(2): once per invoice, owed without a reminder once interest is.
        compensation = policy.fixed_compensation.get(currency, 0)
        parts.append(
            f"fixed compensation {money(compensation)} (Art. 6)"
            if compensation
            else f"no fixed compensation configured for {currency}"
        )
    else:
        parts.append(
            "no statutory interest or compensation: Directive 2011/7/EU covers business debtors only"
        )
    fee, fee_note = _dunning_fee(principal, currency, policy.dunning_fee, levels, compensation, money)
    parts.append(fee_note)
    return LateCharges(interest, compensation, fee, days_late, "; ".join(parts))


def _statutory_interest(principal: int, due: date, on: date, policy: LateChargePolicy) -> tuple[int, str]:
    """Simple interest on the principal, actual days / 365, each half-year at its own rate."""
    total = Decimal(0)
    spans: list[str] = []
    first = due + timedelta(days=1)
    while first <= on:
        half_end = date(first.year, 7, 1) if first.month < 7 else date(first.year + 1, 1, 1)
        last = min(on, half_end - timedelta(days=1))
        days = (last - first).days + 1
        reference = policy.reference_rates.get(_half_year(first), policy.reference_rate_percent)
        # A negative reference rate (it has happened) cannot make the debtor owed money.
        rate = max(Decimal(0), reference + policy.margin_points)
        total += Decimal(principal) * rate / 100 * days / DAYS_PER_YEAR
        spans.append(f"{rate}% ({reference}% + {policy.margin_points} points) x {days}/{DAYS_PER_YEAR}")
        first = last + timedelta(days=1)
    return _round(total), " + ".join(spans)


def _dunning_fee(
    principal: int,
    currency: str,
    fee: DunningFee | None,
    levels: int,
    compensation: int,
    money: _Formatter,
) -> tuple[int, str]:
    if fee is None or levels < 1:
        return 0, "no dunning fee"
    one = fee.fixed.get(currency, 0) + _round(Decimal(principal) * fee.percent / 100)
    if currency in fee.minimum:
        one = max(one, fee.minimum[currency])
    if currency in fee.maximum:
        one = min(one, fee.maximum[currency])
    count = levels if fee.per_level else 1
    charged = one * count
    note = f"dunning fee {money(one)}" + (f" x {count} levels" if count > 1 else "")
    if compensation:
        # Art. 6(3): beyond the fixed sum only recovery costs that exceed it may be claimed; a
        # reminder fee is such a cost, so the compensation already covers its first part.
        charged = max(0, charged - compensation)
        note += f", less the fixed compensation (Art. 6(3)) = {money(charged)}"
    return charged, note


def _half_year(day: date) -> date:
    return date(day.year, 1 if day.month < 7 else 7, 1)


def _round(amount: Decimal) -> int:
    # Amounts are already in minor units, so rounding to a whole unit is rounding to the
    # currency's own precision (cents, or whole yen and won).
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class _Formatter:
    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.exponent = minor_unit_exponent(currency)

    def __call__(self, minor: int) -> str:
        major = Decimal(minor).scaleb(-self.exponent)
        return f"{self.currency} {major:,.{self.exponent}f}"
