"""Outbound webhooks to the platform, signed per the Standard Webhooks spec (HMAC-SHA256, whsec_)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
import structlog

from dunning.common.clock import Clock, SystemClock
from dunning.notify.channels.errors import DeliveryError, retry_after_seconds

log = structlog.get_logger(__name__)

SECRET_PREFIX = "whsec_"
USER_AGENT = "Dunning-Webhooks/1"
_SECRET_BYTES = range(24, 65)  # the spec's recommended 24 to 64 bytes of key
# 4xx answers that say "not now" rather than "never": timeout, conflict, too early, too many.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


def new_webhook_secret(nbytes: int = 32) -> str:
    if nbytes not in _SECRET_BYTES:
        raise ValueError("a webhook secret holds 24 to 64 bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside ``whsec_<base64>``."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if len(key) not in _SECRET_BYTES:
        raise ValueError("a webhook secret holds 24 to 64 bytes")
    return key


def sign(secret: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """``webhook-signature``: ``v1,<base64>`` per secret, space separated.

    Several secrets are how rotation works: during the overlap the platform accepts either.
    """
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise ValueError("at least one webhook secret is needed")
    content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_key(key), content, hashlib.sha256).digest()).decode("ascii")
        for key in keys
    )


def encode_payload(payload: Mapping[str, Any] | bytes) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookSender:
    """POSTs one signed event; never follows redirects (the signed body stays with the named URL)."""

    def __init__(
        self, client: httpx.AsyncClient | None = None, timeout: float = 10.0, *, clock: Clock | None = None
    ) -> None:
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._clock = clock or SystemClock()

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def send(
        self,
        url: str,
        secret: str | Sequence[str],
        *,
        msg_id: str,
        payload: Mapping[str, Any] | bytes,
        timestamp: datetime,
    ) -> int:
        """Returns the 2xx status. Raises DeliveryError for anything else."""
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        body = encode_payload(payload)
        seconds = int(timestamp.timestamp())
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": sign(secret, msg_id, seconds, body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        status, retry_after = await post_once(
            self._client,
            url,
            body,
            headers,
            timeout=self._timeout,
            clock=self._clock,
            what="webhook endpoint",
        )
        if 200 <= status < 300:
            return status
        error = _error_for(status, retry_after)
        log.warning("webhook.failed", msg_id=msg_id, status=status, permanent=error.permanent)
        raise error


async def post_once(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    clock: Clock,
    what: str,
) -> tuple[int, float | None]:
    """POST without following redirects; the status and the ``Retry-After`` seconds, if any.
    A timeout or a connection failure is a transient DeliveryError naming ``what``."""
    try:
        # Streamed and never read: an endpoint's answer body is not ours to buffer.
        async with client.stream(
            "POST", url, content=body, headers=headers, timeout=timeout, follow_redirects=False
        ) as response:
            return response.status_code, retry_after_seconds(
                response.headers.get("retry-after"), now=clock.now()
            )
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"{what} timed out", permanent=False, code="timeout") from exc
    except httpx.TransportError as exc:
        raise DeliveryError(
            f"{what} unreachable: {type(exc).__name__}", permanent=False, code="connection"
        ) from exc


def _error_for(status: int, retry_after: float | None) -> DeliveryError:
    code = f"http_{status}"
    if status == 410:
        return DeliveryError(
            "webhook endpoint is gone (410): disable it", permanent=True, code="endpoint_gone"
        )
    if status in RETRYABLE_4XX or status >= 500:
        return DeliveryError(
            f"webhook endpoint answered {status}", permanent=False, code=code, retry_after=retry_after
        )
    # 3xx lands here too: following it would hand the signed body to a URL the platform never
    # registered, and asking again gets the same redirect.
    return DeliveryError(f"webhook endpoint answered {status}", permanent=True, code=code)
