"""Composing a ``b2b_letter`` delivery: every overdue invoice of the customer with statutory
interest and compensation (``charges.py``), as a PDF attached to an email whose text is the
letter itself. Reads only; the dispatcher stores the PDF with the rest of the content."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.selfservice_link import DEFAULT_LINK_DAYS, SelfServiceLinks, self_service_url
from dunning.notify import b2b_customers, repository
from dunning.notify.channels.mime import Attachment, OutgoingEmail
from dunning.notify.charges import message_charges
from dunning.notify.composer import Composed
from dunning.notify.contacts import resolve
from dunning.notify.content.demand_letter import (
    LetterFacts,
    LetterInvoice,
    LetterProblem,
    letter_language,
    letter_text,
    render_letter,
)
from dunning.notify.content.render import RenderedMessage
from dunning.notify.customer_debts import open_invoices
from dunning.notify.domain.channels import Channel
from dunning.notify.domain.sending_window import next_sending_time
from dunning.notify.policy_schema import NotifyPolicyBody, compliance_rules


async def compose_letter(
    session: AsyncSession,
    delivery: Any,
    *,
    now: datetime,
    default_from: str,
    public_base: str,
    links: SelfServiceLinks | None = None,
    link_days: int = DEFAULT_LINK_DAYS,
) -> Composed:
    tenant, case_id, customer_id = delivery["tenant_id"], delivery["case_id"], delivery["customer_id"]
    escalation = await repository.escalation(session, tenant, case_id) if case_id else None
    if escalation is None or escalation["status"] == "stopped":
        why = escalation["status_note"] if escalation else "notify knows no such case"
        return Composed("cancel", f"not sent: {why}", "case_closed")
    if escalation["status"] == "paused":
        return Composed("hold", f"held: {escalation['status_note']}", "case_paused")
    policy = await repository.policy_of(session, tenant)
    row = await repository.contact_row(session, tenant, customer_id) if customer_id else None
    contact = resolve(customer_id, row, default_locale=policy.default_locale)
    facts: dict[str, Any] = dict(delivery["facts"])
    recipient = facts.get("recipient")
    address = str(recipient) if recipient else contact.address_for(Channel.EMAIL)
    if address is None:
        return Composed("suppress", "no email address is known for this customer", "no_address")
    if not recipient and Channel.EMAIL.value in contact.opted_out_channels:
        return Composed("suppress", "the customer refused email", "opted_out_channel", address=address)
    if await repository.opted_out_addresses(session, tenant, [(Channel.EMAIL, address)]):
        return Composed("suppress", "this address opted out of email", "opted_out_address", address=address)
    waits = _sending_window(policy, contact.zones, delivery["due_at"], now)
    if waits is not None:
        waits.address, waits.locale = address, contact.locale
        return waits

    letter_date = date.fromisoformat(str(facts["letter_date"]))
    settings = await b2b_customers.settings_of(session, tenant, customer_id) if customer_id else None
    terms = settings["payment_terms_days"] if settings else None
    invoices = await _overdue(session, delivery, escalation, policy, letter_date, terms)
    pay_url = None
    if links is not None:
        # Made at the letter's date, not now: a resend after a crash yields the same PDF.
        issued = datetime.combine(letter_date, time(0), UTC)
        token = links.make(
            tenant_id=tenant, case_id=case_id, now=issued, days=link_days, locale=contact.locale
        )
        pay_url = self_service_url(public_base, token)
    if pay_url is None:
        pay_url = next((i.url for i in invoices if i.this_case and i.url), None)
    late = policy.late_charges
    letter = LetterFacts(
        locale=contact.locale,
        letter_date=letter_date,
        threshold_days=int(facts["threshold"]),
        creditor_name=policy.sender.merchant_name,
        creditor_email=policy.sender.support_email or policy.sender.reply_to,
        debtor_name=contact.name,
        debtor_id=customer_id or case_id,
        invoices=[i.line for i in invoices],
        pay_by=letter_date + timedelta(days=policy.b2b.pay_within_days),
        pay_url=pay_url,
        payment_terms_days=terms,
        statutory=late.enabled,
        interest_rate=late.reference_rate_percent + late.margin_points,
        reference_rate=late.reference_rate_percent,
        margin_points=late.margin_points,
    )
    try:
        pdf = render_letter(letter)
    except LetterProblem as exc:
        return Composed("suppress", f"the letter cannot be printed: {exc}", "letter_unprintable")
    subject, text = letter_text(letter)
    language = letter_language(contact.locale)
    sender = policy.sender
    note = f"demand letter ({facts['threshold']} days overdue, {len(invoices)} invoices)"
    if language != contact.locale:
        note += f"; in English: no {contact.locale} font on this machine"
    composed = Composed("send", note, address=address, locale=language)
    composed.rendered = RenderedMessage(subject=subject, text=text, html=None)
    composed.letter_pdf = pdf
    composed.email = OutgoingEmail(
        message_key=delivery["key"],
        from_address=sender.from_address or default_from,
        from_name=sender.from_name or sender.merchant_name,
        reply_to=sender.reply_to or sender.support_email,
        to_address=address,
        to_name=(contact.name or "") if not recipient else "",
        subject=subject,
        text=text,
        # A formal demand to a business: no unsubscribe link; an email opt-out of the address
        # (or of the customer, for its billing address) still suppresses it, above.
        unsubscribe_url=None,
        locale=language,
        attachments=(Attachment(f"demand-letter-{letter_date.isoformat()}.pdf", "application/pdf", pdf),),
    )
    return composed


def _sending_window(
    policy: NotifyPolicyBody, zones: Sequence[str], due_at: datetime, now: datetime
) -> Composed | None:
    """A deferral to the regime's next sending time where the customer is (b2b: 08:00-18:00), as
    for every other message; None when it may go now. The contact caps do not apply: a letter is
    the statutory step at a legal threshold, and a reminder earlier that week must not hold it."""
    rules = compliance_rules(policy)
    if not rules.applies_window:
        return None
    decision = next_sending_time(max(now, due_at), zones, start=rules.window_start, end=rules.window_end)
    if decision.send_at <= now:
        return None
    return Composed("defer", decision.note, "deferred", until=decision.send_at)


class _Owed:
    def __init__(self, line: LetterInvoice, this_case: bool, url: str | None) -> None:
        self.line, self.this_case, self.url = line, this_case, url


async def _overdue(
    session: AsyncSession,
    delivery: Any,
    escalation: Any,
    policy: NotifyPolicyBody,
    on: date,
    terms: int | None,
) -> list[_Owed]:
    """The customer's overdue invoices on the letter's date (this case's always), with charges."""
    tenant, customer_id = delivery["tenant_id"], delivery["customer_id"]
    found = await open_invoices(session, tenant, customer_id) if customer_id else []
    cases = [(i.case_id, i.invoice_id, i.opened_at) for i in found]
    if delivery["case_id"] not in {c for c, _, _ in cases}:
        cases.append((delivery["case_id"], delivery["invoice_id"], escalation["opened_at"]))
    owed: list[_Owed] = []
    for case_id, invoice_id, opened_at in cases:
        facts = await repository.invoice_facts(session, tenant, invoice_id)
        due = b2b_customers.due_date(facts["due_date"] if facts else None, opened_at, terms)
        this_case = case_id == delivery["case_id"]
        days = max((on - due).days, 0)
        if days == 0 and not this_case:
            continue  # not overdue yet: a statement of arrears lists arrears only
        amount = int(facts["amount"] or 0) if facts else 0
        currency = (facts["currency"] if facts else None) or "EUR"
        charges = message_charges(
            policy, amount=amount, currency=currency, due=due, today=on, level=None, b2b=True
        )
        line = LetterInvoice(
            reference=(facts["invoice_number"] if facts else None) or invoice_id,
            amount=amount,
            currency=currency,
            due=due,
            days_overdue=days,
            interest=charges.interest,
            compensation=charges.compensation,
        )
        owed.append(_Owed(line, this_case, facts["hosted_invoice_url"] if facts else None))
    return sorted(owed, key=lambda o: (o.line.due, o.line.reference))
