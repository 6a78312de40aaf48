"""Deciding and writing one message: is it still wanted, may it go out now, to which address,
in which language and with which words. Reads only; the dispatcher records what it decides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.crypto import SecretBox
from dunning.common.selfservice_link import DEFAULT_LINK_DAYS, SelfServiceLinks, self_service_url
from dunning.notify import delivery_store, repository, statements
from dunning.notify.channels.email import OutgoingEmail
from dunning.notify.charges import message_charges
from dunning.notify.contacts import ResolvedContact, resolve
from dunning.notify.content.defaults import default_template
from dunning.notify.content.facts import MessageFacts, PlanOffer, StatementLine
from dunning.notify.content.render import RenderedMessage, TemplateProblem, TemplateSource, render
from dunning.notify.domain.channels import Channel, TemplateName
from dunning.notify.domain.compliance import (
    ContactState,
    Defer,
    PastContact,
    PlannedContact,
    Send,
    assess,
)
from dunning.notify.policy_schema import NotifyPolicyBody, compliance_rules
from dunning.notify.unsubscribe import UnsubscribeTokens
from dunning.notify.walker import AGENCY

_CAP_LOOKBACK = timedelta(days=31)


@dataclass(slots=True)
class Composed:
    verdict: str  # send | defer | suppress | cancel | hold
    note: str
    reason_code: str | None = None
    until: datetime | None = None
    address: str | None = None
    locale: str | None = None
    rendered: RenderedMessage | None = None
    email: OutgoingEmail | None = None
    endpoint_url: str | None = None
    endpoint_secret: str | None = None
    payload: dict[str, Any] | None = None
    letter_pdf: bytes | None = None  # a B2B demand letter, kept for GET /v1/notifications/{id}/letter.pdf
    facts: dict[str, Any] | None = None  # the delivery's facts to store with it (a statement's record)

    def stored(self) -> dict[str, Any]:
        extra = {} if self.facts is None else {"facts": self.facts}
        return extra | {
            "address": self.address,
            "locale": self.locale,
            "subject": self.rendered.subject if self.rendered else None,
            "body_text": self.rendered.text if self.rendered else None,
            "body_html": self.rendered.html if self.rendered else None,
            "note": self.note,
        }


async def compose(
    session: AsyncSession,
    delivery: Any,
    *,
    now: datetime,
    box: SecretBox,
    tokens: UnsubscribeTokens,
    public_base: str,
    default_from: str,
    sms_available: bool,
    links: SelfServiceLinks | None = None,
    link_days: int = DEFAULT_LINK_DAYS,
) -> Composed:
    tenant, channel = delivery["tenant_id"], delivery["channel"]
    if delivery["case_id"]:
        escalation = await repository.escalation(session, tenant, delivery["case_id"])
        if escalation is not None and escalation["status"] == "stopped":
            return Composed("cancel", f"not sent: {escalation['status_note']}", "case_closed")
        if escalation is not None and escalation["status"] == "paused":
            return Composed("hold", f"held: {escalation['status_note']}", "case_paused")
    policy = await repository.policy_of(session, tenant)
    row = (
        await repository.contact_row(session, tenant, delivery["customer_id"])
        if delivery["customer_id"]
        else None
    )
    contact = resolve(delivery["customer_id"], row, default_locale=policy.default_locale)

    if channel == AGENCY:
        return await _to_endpoint(session, box, tenant, AGENCY, dict(delivery["facts"]), contact.locale)

    address = contact.address_for(channel)
    if channel == Channel.SMS and not sms_available:
        return Composed(
            "suppress", "no SMS provider is configured (DUNNING_SMS_*)", "no_provider", address=address
        )
    if channel in (Channel.EMAIL, Channel.SMS):
        verdict = await _compliance(session, delivery, contact, address, policy, now)
        if verdict is not None:
            verdict.address, verdict.locale = address, contact.locale
            return verdict

    statement: tuple[StatementLine, ...] = ()
    record = None
    if statements.applies(delivery, policy.compliance.regime, contact.customer_type):
        today = now.date()
        covered = await statements.covering(session, delivery, day=today)
        if covered is not None:
            why = (
                f"not sent: covered by the statement of {today.isoformat()} (delivery {covered.delivery_id}, "
                f"case {covered.case_id}), which lists this invoice"
            )
            return Composed("suppress", why, statements.COVERED, address=address, locale=contact.locale)
        statement, cases = await statements.lines(session, delivery, policy, today=today)
        record = dict(delivery["facts"] or {}) | {"statement": {"day": today.isoformat(), "cases": cases}}

    unsubscribe_url = f"{public_base}/v1/unsubscribe/{tokens.make(delivery['id'])}"
    page_url = None
    if links is not None and delivery["case_id"]:
        # A fresh link in every message: each one lives link_days from when it was sent.
        link = links.make(
            tenant_id=tenant, case_id=delivery["case_id"], now=now, days=link_days, locale=contact.locale
        )
        page_url = self_service_url(public_base, link)
    facts = await _facts(session, delivery, contact, policy, now, unsubscribe_url, page_url, statement)
    rendered, note = await _render(session, delivery, facts, contact.locale)
    if statement:
        note += f"; a statement of {len(statement)} unpaid invoices"
    if channel == Channel.WEBHOOK:
        payload = _notice_payload(delivery, rendered, facts, contact.locale, now)
        found = await _to_endpoint(session, box, tenant, "platform", payload, contact.locale)
        found.rendered = rendered
        return found
    composed = Composed("send", note, address=address, locale=contact.locale, rendered=rendered, facts=record)
    if channel == Channel.EMAIL:
        assert address is not None
        sender = policy.sender
        composed.email = OutgoingEmail(
            message_key=delivery["key"],
            from_address=sender.from_address or default_from,
            from_name=sender.from_name or sender.merchant_name,
            reply_to=sender.reply_to or sender.support_email,
            to_address=address,
            to_name=contact.name or "",
            subject=rendered.subject or sender.merchant_name,
            text=rendered.text,
            html=rendered.html,
            unsubscribe_url=unsubscribe_url,
            locale=contact.locale,
        )
    return composed


async def _compliance(
    session: AsyncSession,
    delivery: Any,
    contact: ResolvedContact,
    address: str | None,
    policy: NotifyPolicyBody,
    now: datetime,
) -> Composed | None:
    """None: it may go out now. Otherwise the deferral or suppression, with its reason."""
    channel = Channel(delivery["channel"])
    opted = await repository.opted_out_addresses(
        session, delivery["tenant_id"], [(channel, address)] if address else []
    )
    history = await delivery_store.contact_history(
        session, tenant_id=delivery["tenant_id"], case_id=delivery["case_id"], since=now - _CAP_LOOKBACK
    )
    notice_sent_at = await delivery_store.first_notice_sent_at(
        session, tenant_id=delivery["tenant_id"], case_id=delivery["case_id"]
    )
    state = ContactState(
        opted_out_channels=frozenset(
            Channel(c) for c in contact.opted_out_channels if c in Channel._value2member_map_
        ),
        opted_out_addresses=frozenset((Channel(c), a) for c, a in opted),
        history=[
            PastContact(Channel(h["channel"]), h["sent_at"])
            for h in history
            if h["channel"] in ("email", "sms")
        ],
        validation_notice_sent_at=notice_sent_at,
    )
    planned = PlannedContact(
        channel=channel,
        address=address,
        due_at=delivery["due_at"],
        # The first level of a case is the validation notice under third_party_consumer.
        is_validation_notice=delivery["level"] in (0, None),
        zones=contact.zones,
    )
    decision = assess(planned, state, compliance_rules(policy), now=now)
    if isinstance(decision, Send):
        if decision.at <= now:
            return None
        return Composed("defer", decision.note or "waits for its time", "deferred", until=decision.at)
    if isinstance(decision, Defer):
        return Composed("defer", decision.reason, "deferred", until=decision.until)
    return Composed("suppress", decision.reason, decision.code.value)


async def _facts(
    session: AsyncSession,
    delivery: Any,
    contact: ResolvedContact,
    policy: NotifyPolicyBody,
    now: datetime,
    unsubscribe_url: str,
    page_url: str | None,
    statement: tuple[StatementLine, ...] = (),
) -> MessageFacts:
    invoice = (
        await repository.invoice_facts(session, delivery["tenant_id"], delivery["invoice_id"])
        if delivery["invoice_id"]
        else None
    )
    extra: dict[str, Any] = dict(delivery["facts"] or {})
    amount = int(invoice["amount"]) if invoice and invoice["amount"] is not None else 0
    currency = (
        (invoice["currency"] if invoice and invoice["currency"] else None) or extra.get("currency") or "USD"
    )
    renewal_amount = extra.get("renewal_amount")
    if invoice is None and renewal_amount is not None:
        amount = int(renewal_amount)  # a pre-dunning renewal notice: what will be charged
    due: date | None = invoice["due_date"] if invoice else None
    if due is None and delivery["case_id"]:
        # Automatically charged invoices have no due date: the payment was due when it failed,
        # i.e. when the case opened. Interest and "days overdue" count from there.
        escalation = await repository.escalation(session, delivery["tenant_id"], delivery["case_id"])
        due = escalation["opened_at"].date() if escalation is not None else None
    today = now.date()
    charges = message_charges(
        policy,
        amount=amount,
        currency=currency,
        due=due,
        today=today,
        level=delivery["level"],
        b2b=contact.customer_type == "b2b" or policy.compliance.regime == "b2b",
    )
    offer = policy.plan_offer
    plan = None
    if (
        offer is not None
        # A plan is worked out for one debt; a statement of several would offer the wrong sum.
        and len(statement) <= 1
        and delivery["level"] is not None
        and delivery["level"] >= offer.from_level
        and amount
    ):
        total = amount + charges.total
        plan = PlanOffer(
            instalments=offer.instalments,
            instalment_amount=-(-total // offer.instalments),  # round up: the plan never falls short
            every_days=offer.every_days,
        )
    return MessageFacts(
        merchant_name=policy.sender.merchant_name,
        amount=amount,
        currency=currency,
        days_overdue=max((today - due).days, 0) if due else 0,
        customer_name=contact.name,
        invoice_number=invoice["invoice_number"] if invoice else None,
        due_date=due,
        update_payment_url=invoice["hosted_invoice_url"] if invoice else None,
        unsubscribe_url=unsubscribe_url,
        self_service_url=page_url,
        support_email=policy.sender.support_email,
        fee=charges.fee or None,
        interest=charges.interest or None,
        compensation=charges.compensation or None,
        plan_offer=plan,
        card_brand=extra.get("card_brand"),
        card_last4=extra.get("card_last4"),
        card_exp_month=extra.get("card_exp_month"),
        card_exp_year=extra.get("card_exp_year"),
        renewal_date=date.fromisoformat(extra["renewal_date"]) if extra.get("renewal_date") else None,
        renewal_amount=int(renewal_amount) if renewal_amount is not None else None,
        statement=statement,
    )


async def _render(
    session: AsyncSession, delivery: Any, facts: MessageFacts, locale: str
) -> tuple[RenderedMessage, str]:
    channel = Channel(delivery["channel"])
    template = TemplateName(delivery["template"])
    override = await repository.template_override(
        session, delivery["tenant_id"], template.value, channel.value, locale
    )
    if override is not None:
        source = TemplateSource(subject=override["subject"], text=override["text"], html=override["html"])
        try:
            return render(
                source, facts, locale=locale, channel=channel
            ), "rendered from the tenant's template"
        except TemplateProblem as exc:
            # A broken tenant template must not silence dunning: the default wording goes out.
            fallback = render(
                default_template(template, channel, locale), facts, locale=locale, channel=channel
            )
            return fallback, f"the tenant's template failed ({exc}); default wording used"
    rendered = render(default_template(template, channel, locale), facts, locale=locale, channel=channel)
    return rendered, "rendered from the default template"


def _notice_payload(
    delivery: Any, rendered: RenderedMessage, facts: MessageFacts, locale: str, now: datetime
) -> dict[str, Any]:
    return {
        "type": "dunning.notice",
        "timestamp": now.isoformat(),
        "data": {
            "delivery_id": delivery["id"],
            "case_id": delivery["case_id"],
            "invoice_id": delivery["invoice_id"],
            "customer_id": delivery["customer_id"],
            "level": delivery["level"],
            "level_name": delivery["level_name"],
            "template": delivery["template"],
            "locale": locale,
            "subject": rendered.subject,
            "text": rendered.text,
            "amount": facts.amount,
            "currency": facts.currency,
            "update_payment_url": facts.update_payment_url,
            "self_service_url": facts.self_service_url,
        },
    }


async def _to_endpoint(
    session: AsyncSession, box: SecretBox, tenant: str, kind: str, payload: dict[str, Any], locale: str
) -> Composed:
    found = await repository.endpoint(session, tenant, kind)
    if found is None:
        what = "collections agency" if kind == AGENCY else "platform webhook"
        return Composed("suppress", f"no {what} endpoint is configured", "no_endpoint", locale=locale)
    return Composed(
        "send",
        f"to the {kind} endpoint",
        address=found["url"],
        locale=locale,
        endpoint_url=found["url"],
        endpoint_secret=box.open(found["secret_sealed"]),
        payload=payload,
    )
