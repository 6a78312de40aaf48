"""The case summary an internal escalation carries to the account owner or sales team: who owes
what, since when, what the retries and the messages did so far. English, plain text (the same
text serves the email and the chat message)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from babel import Locale

from dunning.notify.content.formatting import format_day, format_money

_EN = Locale.parse("en")


@dataclass(frozen=True, slots=True)
class SummaryInvoice:
    invoice_id: str
    number: str | None
    amount: int
    currency: str
    due: date | None
    this_case: bool = False


@dataclass(frozen=True, slots=True)
class SummaryAttempt:
    at: datetime
    outcome: str  # attempt.succeeded / attempt.failed / attempt.scheduled
    detail: str | None = None  # the decline code, when there was one


@dataclass(frozen=True, slots=True)
class SummaryMessage:
    level_name: str | None
    channel: str
    status: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class CaseSummary:
    merchant_name: str
    case_id: str
    level_name: str
    customer_id: str | None
    customer_name: str | None
    customer_email: str | None
    today: date
    opened_at: datetime
    invoices: Sequence[SummaryInvoice]
    attempts: Sequence[SummaryAttempt] = field(default_factory=tuple)
    messages: Sequence[SummaryMessage] = field(default_factory=tuple)
    case_url: str | None = None

    @property
    def this_invoice(self) -> SummaryInvoice | None:
        return next((i for i in self.invoices if i.this_case), None)


def days_overdue(due: date | None, today: date) -> int:
    return max((today - due).days, 0) if due else 0


def subject(summary: CaseSummary) -> str:
    who = summary.customer_name or summary.customer_id or "a customer"
    invoice = summary.this_invoice
    owed = format_money(invoice.amount, invoice.currency, _EN) if invoice else "an invoice"
    days = days_overdue(invoice.due if invoice else None, summary.today)
    return f"[Dunning] {who} owes {owed}, {days} days overdue: case reached {summary.level_name!r}"


def summary_text(summary: CaseSummary) -> str:
    """The message: plain text, short enough for a chat post."""
    who = summary.customer_name or "(no name on file)"
    lines = [
        f"A dunning case of {summary.merchant_name} reached the level {summary.level_name!r}.",
        "You may know why this customer has not paid; please reach out or note what you know on the case.",
        "",
        f"Customer: {who} ({summary.customer_id or 'unknown id'})",
        f"Email: {summary.customer_email or 'unknown'}",
        f"Case: {summary.case_id}, opened {format_day(summary.opened_at.date(), _EN)}",
        "",
        "Overdue invoices:",
    ]
    totals: dict[str, int] = {}
    for invoice in summary.invoices:
        due = format_day(invoice.due, _EN) if invoice.due else "unknown"
        days = days_overdue(invoice.due, summary.today)
        marker = " (this case)" if invoice.this_case and len(summary.invoices) > 1 else ""
        owed = format_money(invoice.amount, invoice.currency, _EN)
        name = invoice.number or invoice.invoice_id
        lines.append(f"- {name}: {owed}, due {due}, {days} days overdue{marker}")
        totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.amount
    if len(summary.invoices) > 1:
        owed = ", ".join(format_money(amount, cur, _EN) for cur, amount in sorted(totals.items()))
        lines.append(f"Total overdue: {owed}")
    lines += ["", f"Payment attempts ({len(summary.attempts)}):"]
    lines += [
        f"- {format_day(a.at.date(), _EN)}: {a.outcome.removeprefix('attempt.')}"
        + (f" ({a.detail})" if a.detail else "")
        for a in summary.attempts
    ] or ["- none recorded"]
    lines += ["", f"Messages to the customer so far ({len(summary.messages)}):"]
    lines += [
        f"- {m.level_name or 'notice'} by {m.channel}: {m.status}"
        + (f" on {format_day(m.at.date(), _EN)}" if m.at else "")
        for m in summary.messages
    ] or ["- none"]
    if summary.case_url:
        lines += ["", f"Case page: {summary.case_url}"]
    return "\n".join(lines) + "\n"
