"""What the billing endpoints do to the state: pay an invoice with a card, void it, write it off, cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.support.stripe_fake.catalog import find
from tests.support.stripe_fake.errors import card_error, invalid_param, invalid_request, resource_missing
from tests.support.stripe_fake.outcomes import Outcome, decline
from tests.support.stripe_fake.records import Card, ChargeRecord, Invoice, PaymentIntent, Subscription
from tests.support.stripe_fake.render import Expand, Renderer
from tests.support.stripe_fake.state import FakeStripe

_REVIVED_BY_PAYMENT = ("past_due", "unpaid", "incomplete")


def get_invoice(fake: FakeStripe, account: str, invoice_id: str) -> Invoice:
    invoice = find(fake.invoices, invoice_id, account)
    if invoice is None:
        raise resource_missing("invoice", invoice_id)
    return invoice


def pay_invoice(
    fake: FakeStripe,
    renderer: Renderer,
    account: str,
    invoice_id: str,
    *,
    payment_method: str | None,
    off_session: bool | None,
    idempotency_key: str | None,
    request_id: str,
    paid_out_of_band: bool = False,
) -> Invoice:
    """One payment attempt. A decline raises the 402 card_error Stripe answers with.

    ``paid_out_of_band``: no charge, the invoice is only marked paid (money collected elsewhere)."""
    invoice = get_invoice(fake, account, invoice_id)
    if invoice.status == "paid":
        # Stripe sends no error code for this one (none is in its published list): callers
        # should re-read the invoice rather than match a code.
        raise invalid_request("Invoice is already paid")
    if invoice.status == "void":
        raise invalid_request("This invoice has been voided and can no longer be paid.")
    now = fake.now()
    if invoice.status == "draft":
        invoice.status, invoice.finalized_at = "open", now
    if paid_out_of_band:
        if payment_method is not None:
            raise invalid_request("You cannot pass payment_method with paid_out_of_band.")
        invoice.status, invoice.paid_at, invoice.paid_out_of_band = "paid", now, True
        fake.intents[invoice.payment_intent].status = "canceled"
        return invoice
    card = _card_for(fake, invoice, payment_method)
    intent = fake.intents[invoice.payment_intent]
    outcome = _outcome(fake, card)
    if outcome.code == "authentication_required" and off_session is False:
        # On session, Stripe hands the customer a 3-D Secure challenge instead of a decline.
        intent.status, intent.payment_method = "requires_action", card.id
        raise invalid_request(
            "Payment for this invoice requires a payment method with additional actions.",
            code="invoice_payment_intent_requires_action",
        )
    invoice.attempt_count += 1
    charge = ChargeRecord(
        id=fake.new_id("ch"),
        account=account,
        invoice=invoice.id,
        payment_intent=intent.id,
        payment_method=card.id,
        customer=invoice.customer,
        amount=invoice.amount_remaining,
        currency=invoice.currency,
        status="succeeded" if outcome.succeeded else "failed",
        created=now,
        code=outcome.code,
        decline_code=outcome.decline_code,
        message=None if outcome.succeeded else outcome.error_message(),
        advice_code=outcome.advice_code,
        network_advice_code=outcome.network_advice_code,
        network_decline_code=outcome.network_decline_code,
        idempotency_key=idempotency_key,
        request_id=request_id,
    )
    fake.charge_log.append(charge)
    intent.latest_charge, intent.payment_method = charge.id, card.id
    if outcome.succeeded:
        invoice.amount_paid, invoice.status, invoice.paid_at = invoice.amount_due, "paid", now
        intent.status, intent.amount_received, intent.last_payment_error = "succeeded", charge.amount, None
        subscription = fake.subscriptions.get(invoice.subscription or "")
        if subscription is not None and subscription.status in _REVIVED_BY_PAYMENT:
            subscription.status = "active"
        return invoice
    error = _decline_error(renderer, outcome, card, charge, request_id)
    intent.status, intent.last_payment_error = "requires_payment_method", error
    raise card_error({**error, "payment_intent": renderer.payment_intent(intent)})


def create_payment_intent(
    fake: FakeStripe,
    renderer: Renderer,
    account: str,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    payment_method: str | None,
    confirm: bool,
    off_session: bool | None,
    metadata: dict[str, str],
    description: str | None,
    idempotency_key: str | None,
    request_id: str,
) -> PaymentIntent:
    """A standalone PaymentIntent; with ``confirm`` the card is charged at once (one charge record)."""
    if amount < 1:
        raise invalid_param("Amount must be at least 1", param="amount", code="amount_too_small")
    if len(currency) != 3:
        raise invalid_param("Invalid currency", param="currency")
    if customer is None or find(fake.customers, customer, account) is None:
        raise resource_missing("customer", customer or "", param="customer")
    now = fake.now()
    intent = PaymentIntent(
        id=fake.new_id("pi"),
        account=account,
        customer=customer,
        invoice=None,
        created=now,
        amount=amount,
        currency=currency.lower(),
        metadata=metadata,
        description=description,
    )
    fake.intents[intent.id] = intent
    if not confirm:
        return intent
    if payment_method is None:
        raise invalid_request("You must provide a payment_method to confirm", param="payment_method")
    card = find(fake.cards, payment_method, account)
    if card is None:
        raise resource_missing("PaymentMethod", payment_method, param="payment_method")
    if card.customer != customer:
        raise invalid_request(
            f"The PaymentMethod {card.id} does not belong to the Customer {customer}.", param="payment_method"
        )
    outcome = _outcome(fake, card)
    if outcome.code == "authentication_required" and off_session is False:
        intent.status, intent.payment_method = "requires_action", card.id
        return intent
    charge = ChargeRecord(
        id=fake.new_id("ch"),
        account=account,
        invoice=None,
        payment_intent=intent.id,
        payment_method=card.id,
        customer=customer,
        amount=amount,
        currency=intent.currency,
        status="succeeded" if outcome.succeeded else "failed",
        created=now,
        code=outcome.code,
        decline_code=outcome.decline_code,
        message=None if outcome.succeeded else outcome.error_message(),
        advice_code=outcome.advice_code,
        network_advice_code=outcome.network_advice_code,
        network_decline_code=outcome.network_decline_code,
        idempotency_key=idempotency_key,
        request_id=request_id,
    )
    fake.charge_log.append(charge)
    intent.latest_charge, intent.payment_method = charge.id, card.id
    if outcome.succeeded:
        intent.status, intent.amount_received = "succeeded", amount
        return intent
    error = _decline_error(renderer, outcome, card, charge, request_id)
    intent.status, intent.last_payment_error = "requires_payment_method", error
    raise card_error({**error, "payment_intent": renderer.payment_intent(intent)})


def mark_uncollectible(fake: FakeStripe, account: str, invoice_id: str) -> Invoice:
    invoice = get_invoice(fake, account, invoice_id)
    if invoice.status != "open":
        raise invalid_request(
            f"You can only mark an open invoice as uncollectible; this invoice is {invoice.status}."
        )
    invoice.status, invoice.marked_uncollectible_at = "uncollectible", fake.now()
    return invoice


def void_invoice(fake: FakeStripe, account: str, invoice_id: str) -> Invoice:
    invoice = get_invoice(fake, account, invoice_id)
    if invoice.status not in ("open", "uncollectible"):
        raise invalid_request(
            f"You can only void an open or uncollectible invoice; this invoice is {invoice.status}."
        )
    now = fake.now()
    invoice.status, invoice.voided_at = "void", now
    intent = fake.intents[invoice.payment_intent]
    intent.status, intent.canceled_at = "canceled", now
    return invoice


def cancel_subscription(
    fake: FakeStripe, account: str, subscription_id: str, *, comment: str | None, feedback: str | None
) -> Subscription:
    subscription = find(fake.subscriptions, subscription_id, account)
    if subscription is None:
        raise resource_missing("subscription", subscription_id)
    if subscription.status == "canceled":
        raise invalid_request("This subscription has already been canceled.")
    subscription.status, subscription.canceled_at = "canceled", fake.now()
    subscription.cancellation_comment, subscription.cancellation_feedback = comment, feedback
    return subscription


def _card_for(fake: FakeStripe, invoice: Invoice, requested: str | None) -> Card:
    """The card Stripe charges: the one asked for, else the invoice's, the subscription's or the
    customer's default."""
    if requested is not None:
        card = find(fake.cards, requested, invoice.account)
        if card is None:
            raise resource_missing("PaymentMethod", requested, param="payment_method")
        if card.customer != invoice.customer:
            raise invalid_request(
                f"The PaymentMethod {card.id} does not belong to the Customer {invoice.customer}. "
                "Please use a PaymentMethod attached to the invoice's customer.",
                code="missing",
                param="payment_method",
            )
        return card
    subscription = fake.subscriptions.get(invoice.subscription or "")
    for candidate in (
        invoice.default_payment_method,
        subscription.default_payment_method if subscription else None,
        fake.customers[invoice.customer].default_payment_method,
    ):
        if candidate is not None and candidate in fake.cards:
            return fake.cards[candidate]
    raise invalid_request("Cannot charge a customer that has no active card", code="missing")


def _outcome(fake: FakeStripe, card: Card) -> Outcome:
    # An expired card is declined whatever it was programmed to do, as the issuer would.
    today = datetime.fromtimestamp(fake.clock(), UTC)
    if (card.exp_year, card.exp_month) < (today.year, today.month):
        return decline("expired_card")
    return card.behaviour.next_outcome()


def _decline_error(
    renderer: Renderer, outcome: Outcome, card: Card, charge: ChargeRecord, request_id: str
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": "card_error",
        "code": outcome.code,
        "message": outcome.error_message(),
        "charge": charge.id,
        "doc_url": f"https://docs.stripe.com/error-codes/{(outcome.code or '').replace('_', '-')}",
        "payment_method": renderer.card(card, Expand()),
        "request_log_url": f"https://dashboard.stripe.com/test/logs/{request_id}",
    }
    optional = {
        "decline_code": outcome.decline_code,
        "param": outcome.param,
        "advice_code": outcome.advice_code,
        "network_advice_code": outcome.network_advice_code,
        "network_decline_code": outcome.network_decline_code,
    }
    error.update({name: value for name, value in optional.items() if value is not None})
    return error
