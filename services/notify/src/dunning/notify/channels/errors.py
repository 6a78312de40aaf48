"""How a channel says a delivery did not happen, and whether trying again could help."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime


class DeliveryError(Exception):
    """A message was not delivered.

    ``permanent`` ends the delivery as failed; otherwise the caller retries with backoff.
    ``recipient_opted_out`` means the provider itself holds an opt-out for this address or
    number (Twilio 21610): the caller records a suppression rather than only a failure.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str | None = None,
        recipient_opted_out: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.recipient_opted_out = recipient_opted_out
        # Seconds the remote side asked us to wait (Retry-After), when it said.
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return not self.permanent

    def __repr__(self) -> str:
        return (
            f"DeliveryError({self.args[0]!r}, permanent={self.permanent}, code={self.code!r}, "
            f"recipient_opted_out={self.recipient_opted_out}, retry_after={self.retry_after})"
        )


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: either delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
