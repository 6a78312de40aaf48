"""Populations to simulate: the ground-truth parameters of each preset, documented in docs/simulation.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from dunning.simulation.paycycles import CycleKind, PayCycle
from dunning.simulation.truth import Cause

Weighted = tuple[tuple[str, float], ...]

_THURSDAY = 3


@dataclass(frozen=True, slots=True)
class Region:
    zone: str
    weight: float
    currency: str
    cycles: tuple[tuple[PayCycle, float], ...]
    irregular: float = 0.1  # share of gig earners paid on random days


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    description: str
    regions: tuple[Region, ...]
    causes: tuple[tuple[Cause, float], ...]
    codes: dict[Cause, Weighted]
    amount_median: int  # minor units of a 2-decimal currency; scaled per currency
    amount_sigma: float  # lognormal spread
    start: datetime = datetime(2025, 3, 1, tzinfo=UTC)
    spread_days: int = 30  # failures are spread over this many days from ``start``
    billing_hours_utc: tuple[int, ...] = (0, 6, 9, 14, 18)
    zone_known: float = 0.95  # share of customers whose billing address gives a time zone
    brands: Weighted = (("visa", 0.55), ("mastercard", 0.35), ("amex", 0.10))
    invoices: tuple[tuple[int, float], ...] = ((1, 1.0),)
    p_alternate: float = 0.2  # share with another stored method
    p_alternate_debit: float = 0.1  # of those, share where it is a bank debit
    p_alternate_expired: float = 0.3
    p_alternate_success: float = 0.75
    p_new_card: dict[Cause, float] = field(default_factory=dict)  # updates the card after a message
    message_days: tuple[float, ...] = (0.05, 3, 7, 14)  # notify's reminders, days after the failure
    update_delay_hours: float = 8.0  # mean, exponential, after the message they act on
    transient_mean_hours: float = 5.0
    p_transient_long: float = 0.15  # outages that last days, not hours
    issuer_mean_days: float = 4.0
    p_issuer_never: float = 0.35
    p_ok: float = 0.9
    drain_hours: tuple[float, float] = (24.0, 120.0)
    p_covered: tuple[float, float] = (0.6, 0.97)
    p_noise: float = 0.08


_US_CYCLES = (
    (PayCycle(CycleKind.BIWEEKLY, phase=0), 0.22),
    (PayCycle(CycleKind.BIWEEKLY, phase=1), 0.22),
    (PayCycle(CycleKind.WEEKLY), 0.15),
    (PayCycle(CycleKind.SEMI_MONTHLY), 0.25),
    (PayCycle(CycleKind.MONTHLY_LAST_BUSINESS_DAY), 0.16),
)
_MONTHLY_EU = (
    (PayCycle(CycleKind.MONTHLY_LAST_BUSINESS_DAY), 0.7),
    (PayCycle(CycleKind.MONTHLY_DAY, day=25), 0.1),
    (PayCycle(CycleKind.WEEKLY), 0.2),
)
_CONSUMER_CODES: dict[Cause, Weighted] = {
    Cause.FUNDS: (("insufficient_funds", 0.9), ("card_velocity_exceeded", 0.1)),
    Cause.ISSUER: (
        ("do_not_honor", 0.5),
        ("generic_decline", 0.4),
        ("call_issuer", 0.05),
        ("withdrawal_count_limit_exceeded", 0.05),
    ),
    Cause.TRANSIENT: (("processing_error", 0.5), ("issuer_not_available", 0.3), ("try_again_later", 0.2)),
    Cause.DEAD: (
        ("stolen_card", 0.25),
        ("lost_card", 0.25),
        ("fraudulent", 0.2),
        ("pickup_card", 0.1),
        ("restricted_card", 0.1),
        ("transaction_not_allowed", 0.1),
    ),
    Cause.NEEDS_CUSTOMER: (
        ("expired_card", 0.6),
        ("authentication_required", 0.2),
        ("incorrect_cvc", 0.1),
        ("incorrect_zip", 0.1),
    ),
}
_NEW_CARD = {
    Cause.NEEDS_CUSTOMER: 0.35,
    Cause.DEAD: 0.3,
    Cause.FUNDS: 0.08,
    Cause.ISSUER: 0.15,
    Cause.TRANSIENT: 0.05,
}

CONSUMER_MONTHLY = Preset(
    name="consumer-monthly",
    description="A consumer subscription (streaming, app) billed monthly on the signup anniversary; "
    "mostly US, some UK and euro area; small amounts; missing funds dominate.",
    regions=(
        Region("America/New_York", 0.3, "USD", _US_CYCLES),
        Region("America/Chicago", 0.15, "USD", _US_CYCLES),
        Region("America/Los_Angeles", 0.2, "USD", _US_CYCLES),
        Region("Europe/London", 0.15, "GBP", _MONTHLY_EU),
        Region("Europe/Berlin", 0.1, "EUR", _MONTHLY_EU),
        Region("Europe/Paris", 0.1, "EUR", _MONTHLY_EU),
    ),
    causes=(
        (Cause.FUNDS, 0.45),
        (Cause.ISSUER, 0.2),
        (Cause.TRANSIENT, 0.07),
        (Cause.NEEDS_CUSTOMER, 0.18),
        (Cause.DEAD, 0.10),
    ),
    codes=_CONSUMER_CODES,
    amount_median=1499,
    amount_sigma=0.4,
    p_new_card=_NEW_CARD,
)

# A company's card or account is "paid" when its receivables come in or its card statement
# resets, on a day of its own that no calendar guesses.
_B2B_CYCLES = (
    *((PayCycle(CycleKind.MONTHLY_DAY, day=d), 1.0) for d in (1, 5, 10, 15, 20, 25, 28)),
    (PayCycle(CycleKind.SEMI_MONTHLY), 2.0),
    (PayCycle(CycleKind.MONTHLY_LAST_BUSINESS_DAY), 3.0),
)

B2B_NET30 = Preset(
    name="b2b-net30",
    description="A B2B SaaS whose invoices fall due 30 days after issue and are then auto-charged; "
    "corporate cards over their limit, expired cards, bank debits; larger amounts; several invoices "
    "per customer charged to the same card.",
    regions=(
        Region("America/New_York", 0.35, "USD", _B2B_CYCLES, irregular=0.05),
        Region("America/Los_Angeles", 0.25, "USD", _B2B_CYCLES, irregular=0.05),
        Region("Europe/London", 0.2, "GBP", _B2B_CYCLES, irregular=0.05),
        Region("Europe/Berlin", 0.2, "EUR", _B2B_CYCLES, irregular=0.05),
    ),
    causes=(
        (Cause.FUNDS, 0.25),
        (Cause.ISSUER, 0.3),
        (Cause.TRANSIENT, 0.1),
        (Cause.NEEDS_CUSTOMER, 0.28),
        (Cause.DEAD, 0.07),
    ),
    codes={
        **_CONSUMER_CODES,
        Cause.FUNDS: (("card_velocity_exceeded", 0.5), ("insufficient_funds", 0.5)),
        Cause.NEEDS_CUSTOMER: (
            ("expired_card", 0.5),
            ("authentication_required", 0.35),
            ("incorrect_zip", 0.15),
        ),
    },
    amount_median=45000,
    amount_sigma=1.0,
    billing_hours_utc=(13, 14, 15),
    invoices=((1, 0.6), (2, 0.25), (3, 0.15)),
    p_alternate=0.4,
    p_alternate_debit=0.5,
    p_alternate_expired=0.2,
    p_new_card={
        Cause.NEEDS_CUSTOMER: 0.5,
        Cause.DEAD: 0.45,
        Cause.FUNDS: 0.15,
        Cause.ISSUER: 0.25,
        Cause.TRANSIENT: 0.05,
    },
    update_delay_hours=30.0,
    issuer_mean_days=6.0,
    drain_hours=(48.0, 240.0),
)

MIXED_GLOBAL = Preset(
    name="mixed-global",
    description="A global consumer app: the Americas, Europe, Brazil, India, Japan, Korea, Australia; "
    "local pay customs the heuristic only partly knows; a fifth of customers with no known time zone.",
    regions=(
        Region("America/New_York", 0.2, "USD", _US_CYCLES),
        Region("America/Los_Angeles", 0.1, "USD", _US_CYCLES),
        Region("Europe/London", 0.1, "GBP", _MONTHLY_EU),
        Region("Europe/Berlin", 0.1, "EUR", _MONTHLY_EU),
        Region(
            "America/Sao_Paulo",
            0.12,
            "BRL",
            (
                (PayCycle(CycleKind.MONTHLY_NTH_BUSINESS_DAY, day=5), 0.7),
                (PayCycle(CycleKind.MONTHLY_DAY, day=20), 0.3),
            ),
            irregular=0.2,
        ),
        Region(
            "Asia/Kolkata",
            0.12,
            "INR",
            (
                (PayCycle(CycleKind.MONTHLY_LAST_BUSINESS_DAY), 0.6),
                (PayCycle(CycleKind.MONTHLY_DAY, day=1), 0.4),
            ),
            irregular=0.2,
        ),
        Region("Asia/Tokyo", 0.1, "JPY", ((PayCycle(CycleKind.MONTHLY_DAY, day=25), 1.0),)),
        Region(
            "Asia/Seoul",
            0.06,
            "KRW",
            ((PayCycle(CycleKind.MONTHLY_DAY, day=25), 0.6), (PayCycle(CycleKind.MONTHLY_DAY, day=10), 0.4)),
        ),
        Region(
            "Australia/Sydney",
            0.1,
            "AUD",
            (
                (PayCycle(CycleKind.BIWEEKLY, weekday=_THURSDAY, phase=0), 0.35),
                (PayCycle(CycleKind.BIWEEKLY, weekday=_THURSDAY, phase=1), 0.35),
                (PayCycle(CycleKind.MONTHLY_DAY, day=15), 0.3),
            ),
        ),
    ),
    causes=(
        (Cause.FUNDS, 0.45),
        (Cause.ISSUER, 0.2),
        (Cause.TRANSIENT, 0.08),
        (Cause.NEEDS_CUSTOMER, 0.17),
        (Cause.DEAD, 0.10),
    ),
    codes=_CONSUMER_CODES,
    amount_median=999,
    amount_sigma=0.5,
    billing_hours_utc=tuple(range(0, 24, 3)),
    zone_known=0.8,
    p_alternate=0.15,
    p_new_card=_NEW_CARD,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (CONSUMER_MONTHLY, B2B_NET30, MIXED_GLOBAL)}

# Minor units per major unit; amounts are drawn for 2-decimal currencies and scaled by this rate.
CURRENCY_EXPONENT = {"JPY": 0, "KRW": 0}
AMOUNT_SCALE = {"JPY": 1.5, "KRW": 14.0, "INR": 80.0, "BRL": 5.0, "AUD": 1.5, "GBP": 0.8, "EUR": 0.9}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
