"""The variables a template sees: the message facts already written out for the reader's locale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from babel import Locale

from dunning.notify.content.facts import MessageFacts, StatementLine
from dunning.notify.content.formatting import format_day, format_money
from dunning.notify.content.phrases import addressee, card_word


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """A payment plan as a template shows it: '3 payments of $18.00 every 30 days'."""

    instalments: int
    instalment_amount: str
    every_days: int


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """An invoice line of a statement as a template shows it."""

    number: str
    due_date: str
    days_overdue: int
    amount: str
    charges: str | None  # fee, interest and compensation together; None when there are none


@dataclass(frozen=True, slots=True)
class StatementTotal:
    currency: str
    amount: str  # the invoices plus their charges


@dataclass(frozen=True, slots=True)
class Statement:
    """Every unpaid invoice of a business customer, with one total per currency."""

    invoices: list[StatementEntry]
    totals: list[StatementTotal]


@dataclass(frozen=True, slots=True)
class CardOnFile:
    brand: str
    last4: str
    exp: str | None  # MM/YY, as printed on the card, so the customer recognises it


# Processors send brand codes; a customer reads the brand's own spelling.
_BRANDS: Final = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "american_express": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "Diners Club",
    "unionpay": "UnionPay",
}

KNOWN_VARIABLES: Final = frozenset(
    {
        "merchant_name",
        "customer_name",  # with the honorific ja and ko expect; a polite generic form when unknown
        "amount",
        "fee",
        "interest",
        "compensation",
        "total",
        "currency",
        "due_date",
        "days_overdue",
        "invoice_number",
        "update_payment_url",
        "self_service_url",
        "unsubscribe_url",
        "support_email",
        "plan_offer",
        "card",
        "renewal_date",
        "renewal_amount",
        "statement",  # b2b: every unpaid invoice of the customer and a total per currency; else None
        "facts",  # the raw facts, for advanced templates using the money and date filters
    }
)


def template_variables(facts: MessageFacts, locale: Locale) -> dict[str, Any]:
    tag = str(locale)

    def money(minor: int | None) -> str | None:
        # A zero fee is not worth a sentence; templates test these with {% if fee %}.
        return None if not minor else format_money(minor, facts.currency, locale)

    plan = facts.plan_offer
    variables: dict[str, Any] = {
        "merchant_name": facts.merchant_name,
        "customer_name": addressee(facts.customer_name, tag),
        "amount": format_money(facts.amount, facts.currency, locale),
        "fee": money(facts.fee),
        "interest": money(facts.interest),
        "compensation": money(facts.compensation),
        "total": format_money(facts.total, facts.currency, locale),
        "currency": facts.currency,
        "due_date": None if facts.due_date is None else format_day(facts.due_date, locale),
        "days_overdue": facts.days_overdue,
        "invoice_number": facts.invoice_number,
        "update_payment_url": facts.update_payment_url,
        "self_service_url": facts.self_service_url,
        "unsubscribe_url": facts.unsubscribe_url,
        "support_email": facts.support_email,
        "plan_offer": None
        if plan is None
        else PlanTerms(
            instalments=plan.instalments,
            instalment_amount=format_money(plan.instalment_amount, facts.currency, locale),
            every_days=plan.every_days,
        ),
        "card": _card(facts, tag),
        "renewal_date": None if facts.renewal_date is None else format_day(facts.renewal_date, locale),
        "renewal_amount": None
        if facts.renewal_amount is None
        else format_money(facts.renewal_amount, facts.currency, locale),
        "statement": _statement(facts.statement, locale),
        "facts": facts,
    }
    return variables


def _statement(lines: tuple[StatementLine, ...], locale: Locale) -> Statement | None:
    if not lines:
        return None
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.amount + line.charges
    return Statement(
        invoices=[
            StatementEntry(
                number=line.number,
                due_date=format_day(line.due_date, locale),
                days_overdue=line.days_overdue,
                amount=format_money(line.amount, line.currency, locale),
                charges=format_money(line.charges, line.currency, locale) if line.charges else None,
            )
            for line in lines
        ],
        totals=[
            StatementTotal(code, format_money(minor, code, locale)) for code, minor in sorted(totals.items())
        ],
    )


def _card(facts: MessageFacts, locale: str) -> CardOnFile | None:
    if facts.card_last4 is None:
        return None
    brand = facts.card_brand
    shown = card_word(locale) if brand is None else _BRANDS.get(brand.lower(), brand)
    exp = None
    if facts.card_exp_month is not None and facts.card_exp_year is not None:
        exp = f"{facts.card_exp_month:02d}/{facts.card_exp_year % 100:02d}"
    return CardOnFile(brand=shown, last4=facts.card_last4, exp=exp)
