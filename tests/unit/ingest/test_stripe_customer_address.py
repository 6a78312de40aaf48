"""The invoice's billing address snapshot reaches the canonical event (the time zone comes from it)."""

import json
from typing import Any

from dunning.common.events.payment import InvoicePaymentData
from dunning.ingest.processors.stripe.normalize import normalize_event, parse_event


def _failed(address: dict[str, Any] | None) -> InvoicePaymentData:
    invoice: dict[str, Any] = {
        "id": "in_addr",
        "object": "invoice",
        "customer": "cus_1",
        "currency": "jpy",
        "amount_due": 1200,
        "amount_remaining": 1200,
        "status": "open",
        "customer_address": address,
    }
    body = json.dumps(
        {
            "id": "evt_addr",
            "object": "event",
            "type": "invoice.payment_failed",
            "created": 1_700_000_000,
            "data": {"object": invoice},
        }
    ).encode()
    data = normalize_event("ten_1", parse_event(body)).events[0].data
    assert isinstance(data, InvoicePaymentData)
    return data


def test_country_and_region_are_carried_upper_case() -> None:
    data = _failed({"country": "us", "state": "ca", "city": "San Francisco", "line1": None})
    assert (data.customer_country, data.customer_region) == ("US", "CA")


def test_missing_or_blank_address_parts_are_none() -> None:
    assert (_failed(None).customer_country, _failed(None).customer_region) == (None, None)
    blank = _failed({"country": "JP", "state": " "})
    assert (blank.customer_country, blank.customer_region) == ("JP", None)
