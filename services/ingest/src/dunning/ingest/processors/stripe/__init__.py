"""The Stripe processor adapter: Stripe-Signature verification and Stripe event normalization."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from dunning.ingest.processors.base import Normalization, ProviderEvent
from dunning.ingest.processors.stripe.normalize import normalize_event, parse_event
from dunning.ingest.processors.stripe.signature import (
    DEFAULT_TOLERANCE_SECONDS,
    sign,
    verify_signature,
)

if TYPE_CHECKING:
    from dunning.ingest.processors.base import ProcessorAdapter

__all__ = ["StripeAdapter", "sign"]


class StripeAdapter:
    """Stripe webhooks (API versions before and after 2025-03-31.basil), Connect included."""

    name = "stripe"

    def __init__(self, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
        if tolerance_seconds < 0:
            raise ValueError("tolerance_seconds cannot be negative")
        self.tolerance_seconds = tolerance_seconds

    def verify(self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
        verify_signature(body, headers, secrets, now, self.tolerance_seconds)

    def parse(self, body: bytes) -> ProviderEvent:
        return parse_event(body)

    def normalize(self, tenant_id: str, event: ProviderEvent) -> Normalization:
        return normalize_event(tenant_id, event)


if TYPE_CHECKING:
    # mypy proves the class satisfies the contract the pipeline relies on.
    _adapter: ProcessorAdapter = StripeAdapter()
