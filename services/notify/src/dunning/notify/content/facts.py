"""Everything a customer message may say about a case, as plain data; money in integer minor units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dunning.common.money import normalize_currency


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOffer:
    """A payment plan the customer may take instead of paying everything at once."""

    instalments: int
    instalment_amount: int  # minor units, same currency as the debt
    every_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementLine:
    """One unpaid invoice in a b2b statement; charges are any fee, interest and compensation."""

    number: str
    due_date: date
    days_overdue: int
    amount: int  # minor units
    currency: str
    charges: int = 0  # minor units, same currency


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFacts:
    """The facts of one message; None means "unknown, do not mention"."""

    merchant_name: str
    amount: int
    currency: str
    days_overdue: int = 0
    customer_name: str | None = None
    invoice_number: str | None = None
    due_date: date | None = None
    update_payment_url: str | None = None  # the processor's hosted invoice page
    self_service_url: str | None = None  # the customer's signed page: pay, promise, plan, dispute
    unsubscribe_url: str | None = None
    support_email: str | None = None
    fee: int | None = None  # dunning or late fee
    interest: int | None = None  # statutory interest accrued so far
    compensation: int | None = None  # fixed recovery compensation (EU 2011/7/EU: EUR 40, B2B only)
    plan_offer: PlanOffer | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    card_exp_month: int | None = None
    card_exp_year: int | None = None
    renewal_date: date | None = None
    renewal_amount: int | None = None
    # A b2b statement: every unpaid invoice of the customer, in place of this invoice alone.
    statement: tuple[StatementLine, ...] = ()

    def __post_init__(self) -> None:
        # bool is an int subclass; True as an amount is always a bug upstream.
        for name in ("amount", "fee", "interest", "compensation", "renewal_amount"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"MessageFacts.{name} is an integer number of minor units")
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    @property
    def total(self) -> int:
        """What the customer owes now: the debt plus any fee, interest and compensation."""
        return self.amount + (self.fee or 0) + (self.interest or 0) + (self.compensation or 0)


_SAMPLE_CUSTOMERS = {
    "en": ("Alex Rivera", "USD", 4900, 500),
    "ja": ("山田 太郎", "JPY", 5700, 300),
    "ko": ("김민준", "KRW", 55000, 5000),
}


def sample_facts(locale: str) -> MessageFacts:
    """A realistic overdue case for previewing templates (USD for en, JPY for ja, KRW for ko)."""
    name, currency, amount, fee = _SAMPLE_CUSTOMERS.get(locale, _SAMPLE_CUSTOMERS["en"])
    return MessageFacts(
        merchant_name="Acme Cloud",
        amount=amount,
        currency=currency,
        days_overdue=7,
        customer_name=name,
        invoice_number="INV-2025-0042",
        due_date=date(2025, 3, 7),
        update_payment_url="https://billing.example.com/pay/4f7c2a",
        self_service_url="https://dunning.example.com/pay/AQBn5xLvdGVuXzAxAmNzMQJlbg",
        unsubscribe_url="https://billing.example.com/unsubscribe/4f7c2a",
        support_email="billing@example.com",
        fee=fee,
        plan_offer=PlanOffer(instalments=3, instalment_amount=-(-(amount + fee) // 3), every_days=30),
        card_brand="visa",
        card_last4="4242",
        card_exp_month=4,
        card_exp_year=2025,
        renewal_date=date(2025, 4, 7),
        renewal_amount=amount,
    )
