"""Composing an internal escalation (``internal_email``, ``internal_chat``): the case summary for
the tenant's own team. No compliance check (the recipient is not the customer), but a stopped
case cancels it and a paused one holds it, like every message of a case."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.notify import delivery_store, repository
from dunning.notify.channels.email import OutgoingEmail
from dunning.notify.composer import Composed
from dunning.notify.contacts import resolve
from dunning.notify.content.case_summary import (
    CaseSummary,
    SummaryAttempt,
    SummaryInvoice,
    SummaryMessage,
    subject,
    summary_text,
)
from dunning.notify.content.render import RenderedMessage
from dunning.notify.customer_debts import open_invoices
from dunning.notify.internal_escalation import INTERNAL_CHANNELS, INTERNAL_EMAIL
from dunning.notify.policy_schema import NotifyPolicyBody


async def compose_internal(
    session: AsyncSession, delivery: Any, *, now: datetime, public_base: str, default_from: str
) -> Composed:
    tenant, case_id = delivery["tenant_id"], delivery["case_id"]
    escalation = await repository.escalation(session, tenant, case_id) if case_id else None
    if escalation is None:
        return Composed("cancel", "not sent: notify knows no such case", "case_closed")
    if escalation["status"] == "stopped":
        return Composed("cancel", f"not sent: {escalation['status_note']}", "case_closed")
    if escalation["status"] == "paused":
        return Composed("hold", f"held: {escalation['status_note']}", "case_paused")
    policy = await repository.policy_of(session, tenant)
    summary = await case_summary(session, delivery, escalation, policy, now=now, public_base=public_base)
    text = summary_text(summary)
    rendered = RenderedMessage(subject=subject(summary), text=text, html=None)
    if delivery["channel"] == INTERNAL_EMAIL:
        address = str(delivery["facts"]["recipient"])
        sender = policy.sender
        composed = Composed("send", "internal: the case summary to the team", address=address, locale="en")
        composed.rendered = rendered
        composed.email = OutgoingEmail(
            message_key=delivery["key"],
            from_address=sender.from_address or default_from,
            from_name=f"{sender.merchant_name} dunning",
            to_address=address,
            subject=rendered.subject or "Dunning case summary",
            text=text,
            unsubscribe_url=None,
            locale="en",
        )
        return composed
    assert delivery["channel"] in INTERNAL_CHANNELS
    url = policy.internal_escalation.chat_webhook_url
    if not url:
        return Composed("suppress", "no chat webhook is configured any more", "no_endpoint", locale="en")
    # The webhook URL is itself the credential (Slack's are): only its host is stored and shown.
    composed = Composed(
        "send",
        "internal: the case summary to the team's chat",
        address=urlsplit(url).hostname,
        locale="en",
        endpoint_url=url,
        payload={"text": f"*{rendered.subject}*\n{text}"},
    )
    composed.rendered = rendered
    return composed


async def case_summary(
    session: AsyncSession,
    delivery: Any,
    escalation: Any,
    policy: NotifyPolicyBody,
    *,
    now: datetime,
    public_base: str,
) -> CaseSummary:
    tenant, case_id, customer_id = delivery["tenant_id"], delivery["case_id"], delivery["customer_id"]
    row = await repository.contact_row(session, tenant, customer_id) if customer_id else None
    contact = resolve(customer_id, row, default_locale="en")
    owed = await open_invoices(session, tenant, customer_id) if customer_id else []
    invoices = [
        SummaryInvoice(i.invoice_id, i.number, i.amount, i.currency, i.due, this_case=i.case_id == case_id)
        for i in owed
    ]
    if not any(i.this_case for i in invoices):  # a case without a customer id
        facts = await repository.invoice_facts(session, tenant, delivery["invoice_id"])
        invoices.append(
            SummaryInvoice(
                delivery["invoice_id"],
                facts["invoice_number"] if facts else None,
                int(facts["amount"] or 0) if facts else 0,
                (facts["currency"] if facts else None) or "USD",
                (facts["due_date"] if facts else None) or escalation["opened_at"].date(),
                this_case=True,
            )
        )
    history = await repository.history_of(session, case_id)
    attempts = [
        SummaryAttempt(h["at"], h["type"], (h["summary"] or {}).get("decline_code"))
        for h in history
        if h["type"] in ("attempt.failed", "attempt.succeeded")
    ]
    messages = [
        SummaryMessage(m["level_name"], m["channel"], m["status"], m["sent_at"])
        for m in await delivery_store.of_case(session, tenant, case_id)
        if m["channel"] not in INTERNAL_CHANNELS
    ]
    return CaseSummary(
        merchant_name=policy.sender.merchant_name,
        case_id=case_id,
        level_name=delivery["level_name"] or f"level {delivery['level']}",
        customer_id=customer_id,
        customer_name=contact.name,
        customer_email=contact.email,
        today=now.date(),
        opened_at=escalation["opened_at"],
        invoices=invoices,
        attempts=attempts,
        messages=messages,
        case_url=f"{public_base}/dashboard/#/cases/{case_id}",
    )
