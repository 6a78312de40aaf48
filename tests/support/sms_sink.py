"""A local SMS provider speaking Twilio's Messages API (2010-04-01): records what it is asked to send."""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# Twilio's own wording for the failures a test can program, keyed by Twilio error code.
_FAILURES: dict[int, tuple[int, str]] = {
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
}


@dataclass(frozen=True)
class SentSms:
    sid: str
    to: str
    body: str
    from_number: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    idempotency_token: str | None
    form: dict[str, str]


class SmsSink:
    """State shared between the test (its thread) and the server (uvicorn's thread)."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "sink-token") -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Lock()
        self._messages: list[SentSms] = []
        self._by_token: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, int] = {}
        self._delays: dict[str, float] = {}
        self.requests = 0  # every request that reached the API, however it was answered

    def fail(self, to: str, code: int) -> None:
        """Answer every message to ``to`` with Twilio error ``code`` (21211, 21610, 21614, 20429, 20500)."""
        if code not in _FAILURES:
            raise ValueError(f"no canned answer for Twilio error {code}")
        with self._lock:
            self._failures[to] = code

    def slow(self, to: str, seconds: float) -> None:
        with self._lock:
            self._delays[to] = seconds

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._by_token.clear()
            self._failures.clear()
            self._delays.clear()
            self.requests = 0

    @property
    def messages(self) -> list[SentSms]:
        with self._lock:
            return list(self._messages)

    def plan_for(self, to: str) -> tuple[float, int | None]:
        """How the server answers a message to ``to``: a delay, then maybe a programmed failure."""
        with self._lock:
            self.requests += 1
            return self._delays.get(to, 0.0), self._failures.get(to)

    def accept(self, form: dict[str, str], token: str | None) -> dict[str, Any]:
        """Record a message, or return the one already sent under this idempotency token."""
        with self._lock:
            if token and token in self._by_token:
                return self._by_token[token]
            resource = _message_resource(self.account_sid, form)
            self._messages.append(
                SentSms(
                    sid=resource["sid"],
                    to=form["To"],
                    body=form["Body"],
                    from_number=form.get("From"),
                    messaging_service_sid=form.get("MessagingServiceSid"),
                    status_callback=form.get("StatusCallback"),
                    idempotency_token=token,
                    form=form,
                )
            )
            if token:
                self._by_token[token] = resource
            return resource

    def authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header is not None and secrets.compare_digest(header, f"Basic {expected}")


def create_app(sink: SmsSink) -> Starlette:
    async def create_message(request: Request) -> JSONResponse:
        if request.path_params["account_sid"] != sink.account_sid or not sink.authorized(
            request.headers.get("authorization")
        ):
            return _error(
                401, 20003, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        if (
            request.headers.get("content-type", "").split(";")[0].strip()
            != "application/x-www-form-urlencoded"
        ):
            return _error(400, 20001, "Unsupported content type: Twilio takes form-encoded parameters")
        # Parsed by hand: Starlette's form parser needs python-multipart, which this project does not ship.
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        to = form.get("To", "")
        delay, failure = sink.plan_for(to)
        if delay:
            await asyncio.sleep(delay)
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(
                400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."
            )
        if failure is not None:
            status, message = _FAILURES[failure]
            headers = {"Retry-After": "2"} if status == 429 else None
            return _error(status, failure, message.format(to=to), headers=headers)
        resource = sink.accept(form, request.headers.get("i-twilio-idempotency-token"))
        return JSONResponse(resource, status_code=201)

    return Starlette(
        routes=[Route("/2010-04-01/Accounts/{account_sid}/Messages.json", create_message, methods=["POST"])]
    )


def _message_resource(account_sid: str, form: dict[str, str]) -> dict[str, Any]:
    sid = "SM" + secrets.token_hex(16)
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": form["Body"],
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        # A Messaging Service picks the sender later, so Twilio reports such messages "accepted".
        "status": "accepted" if form.get("MessagingServiceSid") else "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": form["To"],
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


def _error(status: int, code: int, message: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers)
