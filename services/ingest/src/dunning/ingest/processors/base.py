"""The processor adapter contract: verify a webhook, parse it, normalize it into canonical events.

The pipeline (``dunning.ingest.pipeline``) only ever talks to this interface, so a second
processor plugs in by writing one adapter and registering it; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dunning.common.events.payment import PaymentEventData, PaymentEventType


class WebhookRejected(Exception):
    """The request is not a webhook we may store. ``reason`` is safe to show the sender."""

    status_code = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingSignature(WebhookRejected):
    pass


class InvalidSignature(WebhookRejected):
    """No active secret produced the signature, or its timestamp is outside the tolerance."""


class MalformedEvent(WebhookRejected):
    """The body is not JSON, or not an event object of this processor."""


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """The processor's event envelope, parsed but not yet interpreted."""

    id: str
    type: str
    livemode: bool
    account: str | None
    created: datetime
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CanonicalEvent:
    type: PaymentEventType
    data: PaymentEventData


@dataclass(frozen=True, slots=True)
class Normalization:
    """What an event means to us: canonical events, or why it means nothing (``ignored``)."""

    events: tuple[CanonicalEvent, ...] = ()
    ignored: str | None = None

    def __post_init__(self) -> None:
        if not self.events and not self.ignored:
            raise ValueError("a normalization without events must say why it was ignored")


class ProcessorAdapter(Protocol):
    """One payment processor (Stripe first)."""

    name: str

    def verify(self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
        """Raise ``MissingSignature`` or ``InvalidSignature`` unless one secret signed ``body``."""

    def parse(self, body: bytes) -> ProviderEvent:
        """Raise ``MalformedEvent`` unless ``body`` is one of this processor's event objects."""

    def normalize(self, tenant_id: str, event: ProviderEvent) -> Normalization:
        """Pure: the canonical events this processor event stands for. No I/O."""
