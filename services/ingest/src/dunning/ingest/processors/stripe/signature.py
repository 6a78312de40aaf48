"""Stripe-Signature: the HMAC-SHA256 webhook signature, checked the way Stripe specifies it.

Stripe signs ``f"{t}.".encode() + raw_body`` with the endpoint secret and sends
``t=<unix>,v1=<hex>[,v1=<hex>...]``; while a secret is being rolled it sends one ``v1`` per
active secret (https://docs.stripe.com/webhooks#verify-manually).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

from dunning.ingest.processors.base import InvalidSignature, MissingSignature

HEADER = "Stripe-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

# Unix seconds have 10 digits until the year 2286; a longer "timestamp" is garbage, and
# refusing it early keeps int() away from Python's huge-integer conversion limit.
_MAX_TIMESTAMP_DIGITS = 12


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header Stripe would send for ``body`` (used by tests, the bench and the simulator)."""
    return f"t={timestamp},{SCHEME}={_digest(body, secret, timestamp)}"


def parse_signature_header(header: str) -> tuple[int, list[str]]:
    """The timestamp and every ``v1`` signature in a Stripe-Signature header.

    Other schemes (``v0``, future ones) and items without ``=`` are skipped, as Stripe's own
    libraries do, but a header without exactly one ``t`` or without any ``v1`` is invalid.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            continue
        value = value.strip()
        if key == "t":
            if timestamp is not None:
                raise InvalidSignature("Stripe-Signature header has more than one timestamp")
            timestamp = _parse_timestamp(value)
        elif key == SCHEME and value and value.isascii():
            # A non-ASCII "signature" can never match a hex digest, and compare_digest
            # refuses non-ASCII text, so it is dropped here rather than compared.
            signatures.append(value)
    if timestamp is None:
        raise InvalidSignature("Stripe-Signature header has no timestamp (t=)")
    if not signatures:
        raise InvalidSignature(f"Stripe-Signature header has no {SCHEME} signature")
    return timestamp, signatures


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    now: datetime,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Raise unless one active secret signed ``body`` within ``tolerance_seconds`` of ``now``."""
    if now.tzinfo is None:
        raise ValueError("verify_signature needs a timezone-aware 'now'")
    header = signature_header(headers)
    if header is None:
        raise MissingSignature(f"missing {HEADER} header")
    timestamp, signatures = parse_signature_header(header)
    # An empty secret is an HMAC key anyone can use: never let it verify anything.
    keys = [secret for secret in secrets if secret.strip()]
    if not keys:
        raise InvalidSignature("no webhook signing secret is configured for this endpoint")
    candidates = [signature.encode("ascii") for signature in signatures]
    if not any(
        hmac.compare_digest(_digest(body, key, timestamp).encode("ascii"), candidate)
        for key in keys
        for candidate in candidates
    ):
        raise InvalidSignature(f"no {SCHEME} signature matches an active signing secret")
    # Checked after the signature so the reason is only given for authentic requests, and in
    # both directions: a timestamp from the future is as replayable as a stale one.
    skew = abs(now.timestamp() - timestamp)
    if skew > tolerance_seconds:
        raise InvalidSignature(
            f"timestamp outside the tolerance of {tolerance_seconds}s "
            f"(off by {skew:.0f}s): a replay, or a clock out of sync"
        )


def signature_header(headers: Mapping[str, str]) -> str | None:
    """The Stripe-Signature value, whatever the spelling of the header name; None if blank."""
    # Starlette's Headers matches case-insensitively on get(); a plain dict needs the scan.
    value = headers.get(HEADER.lower())
    if value is None:
        wanted = HEADER.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if value is None or not value.strip():
        return None
    return value


def _parse_timestamp(value: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= _MAX_TIMESTAMP_DIGITS):
        raise InvalidSignature("Stripe-Signature timestamp (t=) is not a unix time")
    return int(value)


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    signed_payload = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed_payload, hashlib.sha256).hexdigest()
