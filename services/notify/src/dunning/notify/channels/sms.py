"""SMS through a Twilio-compatible HTTP API, and the X-Twilio-Signature check for inbound replies."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog

from dunning.common.clock import Clock, SystemClock
from dunning.notify.channels.errors import DeliveryError, retry_after_seconds

log = structlog.get_logger(__name__)

TWILIO_API = "https://api.twilio.com"
# Twilio error codes that mean this number will never take this message.
UNSUBSCRIBED_RECIPIENT = 21610  # the recipient replied STOP; the carrier blocks us until START
_UNREACHABLE_NUMBER = frozenset({21211, 21614})  # not a valid number / not a mobile number


class SmsGateway:
    """Sends one SMS per call. Owns its HTTP client unless one is passed in."""

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str | None,
        *,
        messaging_service_sid: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        clock: Clock | None = None,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("an SMS gateway needs a from_number or a messaging_service_sid")
        self._url = f"{(base_url or TWILIO_API).rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._from_number = from_number
        self._messaging_service_sid = messaging_service_sid
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"SmsGateway({self._url!r})"

    async def __aenter__(self) -> SmsGateway:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def send(
        self, to: str, body: str, *, idempotency_key: str, status_callback: str | None = None
    ) -> str:
        """Returns the provider's message sid. Raises DeliveryError."""
        # A Messaging Service picks the sender itself; From would override its number pool.
        form = {"To": to, "Body": body}
        if self._messaging_service_sid:
            form["MessagingServiceSid"] = self._messaging_service_sid
        elif self._from_number:
            form["From"] = self._from_number
        if status_callback:
            form["StatusCallback"] = status_callback
        try:
            response = await self._client.post(
                self._url,
                data=form,
                auth=self._auth,
                headers={"I-Twilio-Idempotency-Token": idempotency_key, "Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError("SMS provider timed out", permanent=False, code="timeout") from exc
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"SMS provider unreachable: {type(exc).__name__}", permanent=False, code="connection"
            ) from exc
        if response.is_success:
            sid = _json(response).get("sid")
            if not isinstance(sid, str) or not sid:
                raise DeliveryError(
                    "SMS provider answered without a sid", permanent=False, code="bad_response"
                )
            log.debug("sms.sent", sid=sid)
            return sid
        error = self._error_for(response)
        log.warning("sms.failed", status=response.status_code, code=error.code, permanent=error.permanent)
        raise error

    def _error_for(self, response: httpx.Response) -> DeliveryError:
        status = response.status_code
        payload = _json(response)
        twilio_code = payload.get("code")
        code = str(twilio_code) if isinstance(twilio_code, int) else f"http_{status}"
        text = str(payload.get("message") or response.reason_phrase)
        if twilio_code == UNSUBSCRIBED_RECIPIENT:
            return DeliveryError(text, permanent=True, code=code, recipient_opted_out=True)
        if status == 429 or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), now=self._clock.now())
            return DeliveryError(text, permanent=False, code=code, retry_after=retry_after)
        if status == 401:
            # Wrong account sid or token: the operator's to fix, after which this message can go.
            return DeliveryError("SMS provider refused our credentials", permanent=False, code=code)
        if twilio_code in _UNREACHABLE_NUMBER or 400 <= status < 500:
            return DeliveryError(text, permanent=True, code=code)
        return DeliveryError(text, permanent=False, code=code)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        parsed = response.json()
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


Params = Mapping[str, str] | Iterable[tuple[str, str]]


def sign_twilio_request(auth_token: str, url: str, params: Params) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by each name+value, sorted."""
    pairs = params.items() if isinstance(params, Mapping) else params
    # Sorted by name, then value for a repeated name; identical pairs count once, as Twilio does.
    signed = url + "".join(name + value for name, value in sorted(set(pairs)))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio_signature(auth_token: str, url: str, params: Params, signature: str) -> bool:
    """True when ``signature`` is Twilio's for this request.

    Twilio signs the URL as it called it; a proxy in front of us may add or drop the port, so
    both the URL without a port and the one with its (default) port are accepted, as Twilio's
    own helper libraries do.
    """
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    expected = signature.encode()
    return any(
        hmac.compare_digest(sign_twilio_request(auth_token, candidate, pairs).encode(), expected)
        for candidate in _port_variants(url)
    )


def _port_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.hostname is None:
        return [url]
    userinfo, _, _ = parts.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    port = parts.port or default_port
    without = urlunsplit(parts._replace(netloc=prefix + host))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}")) if port else without
    return [without, with_port]
