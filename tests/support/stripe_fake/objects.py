"""Stripe's JSON for each record, field by field, links as IDs: ``render`` expands them."""

from __future__ import annotations

from typing import Any

from tests.support.stripe_fake.records import (
    Card,
    ChargeRecord,
    Customer,
    Invoice,
    PaymentIntent,
    Subscription,
)

JsonObject = dict[str, Any]
_HOSTED = "https://invoice.stripe.com/i"


def empty_list(url: str) -> JsonObject:
    return {"object": "list", "data": [], "has_more": False, "url": url}


def customer_json(customer: Customer, *, delinquent: bool) -> JsonObject:
    return {
        "id": customer.id,
        "object": "customer",
        "address": customer.address,
        "balance": 0,
        "created": customer.created,
        "currency": None,
        "default_source": None,
        "delinquent": delinquent,
        "description": None,
        "email": customer.email,
        "invoice_prefix": customer.invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": customer.default_payment_method,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(customer.metadata),
        "name": customer.name,
        "next_invoice_sequence": customer.next_invoice_sequence,
        "phone": customer.phone,
        "preferred_locales": list(customer.preferred_locales),
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def card_json(card: Card) -> JsonObject:
    return {
        "id": card.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": card.fingerprint,
            "funding": card.funding,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": card.created,
        "customer": card.customer,
        "livemode": False,
        "metadata": dict(card.metadata),
        "type": "card",
    }


def invoice_json(invoice: Invoice, customer: Customer, intent: PaymentIntent, *, legacy: bool) -> JsonObject:
    fields: JsonObject = {
        "id": invoice.id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid,
        "amount_remaining": invoice.amount_remaining,
        "attempt_count": invoice.attempt_count,
        "attempted": invoice.attempt_count > 0,
        "auto_advance": invoice.status in ("draft", "open"),
        "billing_reason": invoice.billing_reason,
        "collection_method": "charge_automatically",
        "created": invoice.created,
        "currency": invoice.currency,
        "customer": invoice.customer,
        "customer_address": customer.address,
        "customer_email": customer.email,
        "customer_name": customer.name,
        "customer_phone": customer.phone,
        "default_payment_method": invoice.default_payment_method,
        "due_date": invoice.due_date,
        "hosted_invoice_url": f"{_HOSTED}/{invoice.id}",
        "invoice_pdf": f"{_HOSTED}/{invoice.id}/pdf",
        "lines": empty_list(f"/v1/invoices/{invoice.id}/lines"),
        "livemode": False,
        "metadata": dict(invoice.metadata),
        "next_payment_attempt": None,
        "number": invoice.number,
        "paid_out_of_band": invoice.paid_out_of_band,
        "period_end": invoice.created,
        "period_start": invoice.created,
        "status": invoice.status,
        "status_transitions": {
            "finalized_at": invoice.finalized_at,
            "marked_uncollectible_at": invoice.marked_uncollectible_at,
            "paid_at": invoice.paid_at,
            "voided_at": invoice.voided_at,
        },
        "subtotal": invoice.amount_due,
        "total": invoice.amount_due,
    }
    if legacy:
        fields["charge"] = intent.latest_charge
        fields["paid"] = invoice.status == "paid"
        fields["payment_intent"] = intent.id
        fields["subscription"] = invoice.subscription
    else:
        fields["parent"] = (
            None
            if invoice.subscription is None
            else {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": invoice.subscription},
            }
        )
    return fields


def invoice_payment_json(invoice: Invoice, intent: PaymentIntent) -> JsonObject:
    """The (only) InvoicePayment of a fake invoice: its PaymentIntent, since versions 2025-03-31."""
    paid = invoice.status == "paid"
    return {
        "id": "inpay_" + intent.id.removeprefix("pi_"),
        "object": "invoice_payment",
        "amount_paid": invoice.amount_paid if paid else None,
        "amount_requested": invoice.amount_due,
        "created": intent.created,
        "currency": invoice.currency,
        "invoice": invoice.id,
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": intent.id},
        "status": "paid" if paid else ("canceled" if intent.status == "canceled" else "open"),
        "status_transitions": {"canceled_at": intent.canceled_at, "paid_at": invoice.paid_at},
    }


def intent_json(intent: PaymentIntent, *, legacy: bool) -> JsonObject:
    fields: JsonObject = {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_received": intent.amount_received,
        "canceled_at": intent.canceled_at,
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": intent.created,
        "currency": intent.currency,
        "customer": intent.customer,
        "description": intent.description,
        "last_payment_error": intent.last_payment_error,
        "latest_charge": intent.latest_charge,
        "livemode": False,
        "metadata": dict(intent.metadata),
        "payment_method": intent.payment_method,
        "payment_method_types": ["card"],
        "status": intent.status,
    }
    if legacy:
        fields["invoice"] = intent.invoice
    return fields


def charge_json(charge: ChargeRecord, card: Card, *, legacy: bool) -> JsonObject:
    succeeded = charge.status == "succeeded"
    fields: JsonObject = {
        "id": charge.id,
        "object": "charge",
        "amount": charge.amount,
        "amount_captured": charge.amount if succeeded else 0,
        "amount_refunded": 0,
        "captured": succeeded,
        "created": charge.created,
        "currency": charge.currency,
        "customer": charge.customer,
        "failure_code": charge.code,
        "failure_message": charge.message,
        "livemode": False,
        "metadata": {},
        "outcome": {
            "advice_code": charge.advice_code,
            "network_advice_code": charge.network_advice_code,
            "network_decline_code": charge.network_decline_code,
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": charge.decline_code,
            "risk_level": "normal",
            "seller_message": "Payment complete." if succeeded else "The bank returned the decline code.",
            "type": "authorized" if succeeded else "issuer_declined",
        },
        "paid": succeeded,
        "payment_intent": charge.payment_intent,
        "payment_method": charge.payment_method,
        "payment_method_details": {
            "type": "card",
            "card": {
                "brand": card.brand,
                "country": card.country,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "last4": card.last4,
                "network": card.brand,
            },
        },
        "refunded": False,
        "status": charge.status,
    }
    if legacy:
        fields["invoice"] = charge.invoice
    return fields


def subscription_json(sub: Subscription) -> JsonObject:
    return {
        "id": sub.id,
        "object": "subscription",
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": sub.canceled_at,
        "cancellation_details": {
            "comment": sub.cancellation_comment,
            "feedback": sub.cancellation_feedback,
            "reason": "cancellation_requested" if sub.status == "canceled" else None,
        },
        "collection_method": "charge_automatically",
        "created": sub.created,
        "currency": sub.currency,
        "customer": sub.customer,
        "default_payment_method": sub.default_payment_method,
        "ended_at": sub.canceled_at,
        "items": empty_list(f"/v1/subscription_items?subscription={sub.id}"),
        "latest_invoice": sub.latest_invoice,
        "livemode": False,
        "metadata": dict(sub.metadata),
        "start_date": sub.created,
        "status": sub.status,
    }
