"""Collections decisions without I/O: the tenant's limits, plan options and instalment splits,
promise deadlines in the customer's zone, when a declined instalment is tried again."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DISPUTE_REASONS = (
    "not_received",
    "wrong_amount",
    "already_paid",
    "cancelled",
    "duplicate",
    "quality",
    "other",
)
WRITE_OFF_REASONS = (
    "customer_insolvent",
    "small_balance",
    "settlement",
    "dispute_upheld",
    "goodwill",
    "other",
)
NOTE_KINDS = ("note", "call", "agreement")
SOURCES = ("customer", "operator")
# After a declined instalment: tried again this many days after the first try, then given up.
INSTALMENT_RETRY_DAYS = (3, 7)
# When a customer dispute counts as awaiting the tenant's answer for too long (the task's due time).
DISPUTE_ANSWER_DAYS = 7
# Smallest instalment when the tenant set none for the currency: 10.00 in two-decimal currencies.
DEFAULT_MIN_INSTALMENT = 1000
_LIMIT = 10**12  # any amount or count past this is a typo, refused rather than stored


class CollectionsRefused(Exception):
    """A collections request the rules do not allow; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class CollectionsPolicy:
    """A tenant's limits for what customers and operators may arrange."""

    promises_allowed: bool = True
    promise_horizon_days: int = 14
    plans_allowed: bool = True
    max_instalments: int = 6
    min_instalment_amount: dict[str, int] = field(default_factory=dict)  # per currency, minor units
    max_span_days: int = 90
    interval_days: int = 30

    def __post_init__(self) -> None:
        if not 1 <= self.promise_horizon_days <= 365:
            raise ValueError("promise_horizon_days must be 1 to 365")
        if not 2 <= self.max_instalments <= 60:
            raise ValueError("max_instalments must be 2 to 60")
        if not 1 <= self.interval_days <= 92:
            raise ValueError("interval_days must be 1 to 92")
        if not self.interval_days <= self.max_span_days <= 3660:
            raise ValueError("max_span_days must be at least interval_days and at most 3660")
        for currency, amount in self.min_instalment_amount.items():
            if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
                raise ValueError(f"min_instalment_amount: {currency[:10]!r} is not an ISO 4217 code")
            if not 1 <= amount <= _LIMIT:
                raise ValueError(f"min_instalment_amount[{currency}] must be 1 to {_LIMIT}")

    def min_instalment(self, currency: str) -> int:
        return self.min_instalment_amount.get(currency.upper(), DEFAULT_MIN_INSTALMENT)


@dataclass(frozen=True, slots=True)
class PlanOption:
    instalments: int
    amount_each: int
    first_due: date
    last_due: date


def split_amount(total: int, count: int) -> list[int]:
    """``count`` integer amounts summing exactly to ``total``; the remainder goes on the first.

    Amounts are in the currency's smallest unit as the processor gives them, so a zero-decimal
    currency (JPY, KRW) splits the same way: never a fraction of a unit.
    """
    if count < 1 or total < count:
        raise ValueError("cannot split")
    each, remainder = divmod(total, count)
    return [each + remainder] + [each] * (count - 1)


def due_dates(first: date, count: int, interval_days: int) -> list[date]:
    return [first + timedelta(days=interval_days * i) for i in range(count)]


def plan_options(policy: CollectionsPolicy, amount: int, currency: str, today: date) -> list[PlanOption]:
    """Every instalment count the tenant's limits allow for ``amount``; the first due ``today``."""
    if not policy.plans_allowed or amount <= 0:
        return []
    options = []
    floor = policy.min_instalment(currency)
    for count in range(2, policy.max_instalments + 1):
        span = policy.interval_days * (count - 1)
        if span > policy.max_span_days or amount // count < floor:
            break
        dates = due_dates(today, count, policy.interval_days)
        options.append(PlanOption(count, amount // count, dates[0], dates[-1]))
    return options


def check_plan(policy: CollectionsPolicy, amount: int, currency: str, count: int, today: date) -> PlanOption:
    if not policy.plans_allowed:
        raise CollectionsRefused("plan_not_allowed", "payment plans are not offered for this invoice")
    allowed = {o.instalments: o for o in plan_options(policy, amount, currency, today)}
    if count not in allowed:
        counts = ", ".join(str(c) for c in sorted(allowed)) or "none"
        raise CollectionsRefused(
            "plan_out_of_limits", f"{count} instalments is outside the allowed choices ({counts})"
        )
    return allowed[count]


def promise_latest(policy: CollectionsPolicy, today: date) -> date | None:
    return today + timedelta(days=policy.promise_horizon_days) if policy.promises_allowed else None


def check_promise(policy: CollectionsPolicy, pay_by: date, today: date) -> None:
    latest = promise_latest(policy, today)
    if latest is None:
        raise CollectionsRefused("promise_not_allowed", "promises to pay are not offered for this invoice")
    if pay_by < today:
        raise CollectionsRefused("promise_in_past", f"{pay_by} is before today ({today})")
    if pay_by > latest:
        raise CollectionsRefused("promise_too_far", f"the latest date you can promise is {latest}")


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant after ``day`` ends in ``zone`` (midnight starting the next day), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def start_of_day(day: date, zone: ZoneInfo, hour: int = 9) -> datetime:
    """When an instalment due on ``day`` is charged: the customer's morning."""
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def local_today(now: datetime, zone: ZoneInfo) -> date:
    return now.astimezone(zone).date()


def next_try(first_due: datetime, tries_done: int) -> datetime | None:
    """When a declined instalment is tried again (``tries_done`` tries failed); None: give up."""
    if tries_done > len(INSTALMENT_RETRY_DAYS):
        return None
    return first_due + timedelta(days=INSTALMENT_RETRY_DAYS[tries_done - 1])
