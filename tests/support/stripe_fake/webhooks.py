"""Stripe-signed webhook events built from the fake's own objects, delivered over HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tests.support.stripe_fake.render import JsonObject, Renderer
from tests.support.stripe_fake.state import DEFAULT_ACCOUNT, FakeStripe

from dunning.ingest.processors.stripe.signature import sign


def build_event(
    fake: FakeStripe, event_type: str, object_id: str, *, api_version: str | None = None
) -> JsonObject:
    """An event whose ``data.object`` is the object as it is now, in the event's API version.

    Links stay IDs, as in Stripe's snapshot events; connected accounts' events carry ``account``.
    """
    version = api_version or fake.default_api_version
    with fake.lock:
        render = Renderer(fake, version)
        obj: Any
        if object_id in fake.invoices:
            obj = fake.invoices[object_id]
            data = render.invoice(obj)
        elif object_id in fake.intents:
            obj = fake.intents[object_id]
            data = render.payment_intent(obj)
        elif object_id in fake.subscriptions:
            obj = fake.subscriptions[object_id]
            data = render.subscription(obj)
        elif object_id in fake.cards:
            obj = fake.cards[object_id]
            data = render.card(obj)
        else:
            charge = next((c for c in fake.charge_log if c.id == object_id), None)
            if charge is None:
                raise KeyError(f"the fake has no {object_id!r}")
            obj, data = charge, render.charge(charge)
        event: JsonObject = {
            "id": fake.new_id("evt"),
            "object": "event",
            "api_version": version,
            "created": fake.now(),
            "data": {"object": data},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        if obj.account != DEFAULT_ACCOUNT:
            event["account"] = obj.account
    return event


async def deliver(event: JsonObject, url: str, secret: str, *, timeout: float = 10.0) -> httpx.Response:
    """POST the event as Stripe does: compact JSON, ``Stripe-Signature: t=...,v1=...``."""
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": sign(body, secret, int(event["created"])),
    }
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await client.post(url, content=body, headers=headers)
