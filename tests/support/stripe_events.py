"""Build Stripe-shaped webhook bodies and sign them the way Stripe does."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from dunning.ingest.processors.stripe.signature import sign

_counter = itertools.count(1)


def invoice_payment_failed(
    *,
    event_id: str | None = None,
    invoice_id: str | None = None,
    customer_id: str = "cus_test",
    amount: int = 2000,
    currency: str = "usd",
    decline_code: str = "insufficient_funds",
    created: int | None = None,
    account: str | None = None,
) -> dict[str, Any]:
    n = next(_counter)
    invoice_id = invoice_id or f"in_test{n:06d}"
    event: dict[str, Any] = {
        "id": event_id or f"evt_test{n:06d}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": "invoice.payment_failed",
        "data": {
            "object": {
                "id": invoice_id,
                "object": "invoice",
                "customer": customer_id,
                "customer_email": "jenny@example.com",
                "customer_name": "Jenny Rosen",
                "subscription": "sub_test",
                "amount_due": amount,
                "amount_paid": 0,
                "amount_remaining": amount,
                "currency": currency,
                "status": "open",
                "attempt_count": 1,
                "billing_reason": "subscription_cycle",
                "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}",
                "next_payment_attempt": None,
                "payment_intent": {
                    "id": f"pi_test{n:06d}",
                    "object": "payment_intent",
                    "latest_charge": f"ch_test{n:06d}",
                    "last_payment_error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": decline_code,
                        "message": "Your card was declined.",
                        "payment_method": {
                            "id": "pm_test",
                            "object": "payment_method",
                            "type": "card",
                            "card": {"brand": "visa", "country": "US", "last4": "4242"},
                        },
                    },
                },
            }
        },
    }
    if account:
        event["account"] = account
    return event


def unhandled_event(*, event_id: str | None = None) -> dict[str, Any]:
    n = next(_counter)
    return {
        "id": event_id or f"evt_other{n:06d}",
        "object": "event",
        "created": int(time.time()),
        "livemode": False,
        "type": "customer.created",
        "data": {"object": {"id": f"cus_{n}", "object": "customer"}},
    }


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def signed_headers(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Stripe-Signature": sign(body, secret, timestamp or int(time.time())),
        "Content-Type": "application/json",
    }
