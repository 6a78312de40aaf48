"""Stripe events in, canonical payment events out: ``parse_event`` checks the envelope,
``normalize_event`` says what the event means to dunning, or why it means nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from dunning.ingest.processors.base import MalformedEvent, Normalization, ProviderEvent
from dunning.ingest.processors.stripe import _mapping
from dunning.ingest.processors.stripe._fields import StripeFields
from dunning.ingest.processors.stripe._mapping import EventSource

__all__ = ["normalize_event", "parse_event"]

_HANDLERS: dict[str, Callable[[EventSource], Normalization]] = {
    **dict.fromkeys(_mapping.INVOICE_EVENTS, _mapping.invoice_event),
    "invoice.upcoming": _mapping.upcoming_invoice,
    "payment_intent.payment_failed": _mapping.payment_failure,
    "charge.failed": _mapping.payment_failure,
    "customer.subscription.deleted": _mapping.subscription_event,
    "customer.subscription.updated": _mapping.subscription_event,
    **dict.fromkeys(_mapping.PAYMENT_METHOD_CHANGES, _mapping.payment_method_event),
    "customer.source.expiring": _mapping.card_expiring,
    "charge.dispute.created": _mapping.dispute_event,
    "charge.dispute.closed": _mapping.dispute_event,
}


def parse_event(body: bytes) -> ProviderEvent:
    """The event envelope of a Stripe webhook body; MalformedEvent unless it is one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEvent("body is not UTF-8") from None
    try:
        parsed = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise MalformedEvent("body is not JSON") from None
    if not isinstance(parsed, dict):
        raise MalformedEvent("body is not a JSON object")
    event = StripeFields(parsed, "event")
    if event.text("object") not in (None, "event"):
        raise MalformedEvent("event.object must be 'event'")
    event_id = event.required_text("id")
    if not event_id.startswith("evt_"):
        raise MalformedEvent("event.id must be a Stripe event ID (evt_...)")
    event_type = event.required_text("type")
    created = event.timestamp("created")
    if created is None:
        raise MalformedEvent("event.created is required (a unix timestamp)")
    _data_object(parsed)
    return ProviderEvent(
        id=event_id,
        type=event_type,
        livemode=event.flag("livemode", default=False),
        account=event.text("account") or None,
        created=created,
        payload=parsed,
    )


def normalize_event(tenant_id: str, event: ProviderEvent) -> Normalization:
    """Pure: the canonical events a parsed Stripe event stands for."""
    handler = _HANDLERS.get(event.type)
    if handler is None:
        return Normalization(ignored=f"unhandled event type {event.type}")
    return handler(EventSource(tenant_id=tenant_id, event=event, obj=_data_object(event.payload)))


def _data_object(payload: Mapping[str, Any]) -> StripeFields:
    data = StripeFields(payload, "event").child("data")
    obj = data.child("object") if data is not None else None
    if obj is None:
        raise MalformedEvent("event.data.object is required (an object)")
    return obj


def _refuse_constant(constant: str) -> NoReturn:
    # NaN and Infinity are Python's JSON extensions; Stripe never sends them.
    raise ValueError(f"{constant} is not JSON")
