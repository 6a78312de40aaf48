"""The fake as an ASGI app: every ``/v1`` request passes auth, faults, the rate limiter and idempotency
in the order Stripe applies them, then its endpoint; ``/_fake`` is the control API."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tests.support.stripe_fake.api import CATCH_ALL, ENDPOINTS, Call, Endpoint
from tests.support.stripe_fake.control import control_routes
from tests.support.stripe_fake.errors import (
    StripeApiError,
    authentication,
    invalid_param,
    no_access,
    rate_limited,
)
from tests.support.stripe_fake.forms import check_known, flat_pairs, parse_form
from tests.support.stripe_fake.idempotency import SavedResponse, Scope
from tests.support.stripe_fake.records import RequestRecord
from tests.support.stripe_fake.render import Renderer
from tests.support.stripe_fake.state import FakeStripe
from tests.support.stripe_fake.traffic import Fault

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_ALL_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]


def create_app(state: FakeStripe | None = None) -> Starlette:
    fake = state if state is not None else FakeStripe()
    routes: list[BaseRoute] = [
        *control_routes(fake),
        *(Route(e.path, _endpoint(fake, e), methods=[e.method]) for e in ENDPOINTS),
        Route(CATCH_ALL.path, _endpoint(fake, CATCH_ALL), methods=_ALL_METHODS),
    ]
    app = Starlette(routes=routes)
    app.state.fake = fake
    return app


def _endpoint(fake: FakeStripe, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        return await _Exchange(fake, endpoint, request).run()

    return serve


class _Exchange:
    """One request's way through the fake, and the record it leaves in the request log."""

    def __init__(self, fake: FakeStripe, endpoint: Endpoint, request: Request) -> None:
        self.fake, self.endpoint, self.request = fake, endpoint, request
        self.method, self.path = request.method, request.url.path
        self.request_id = "req_" + secrets.token_hex(7)
        self.headers = {"Request-Id": self.request_id}
        self.idempotency_key = request.headers.get("idempotency-key") if self.method == "POST" else None
        self.record = RequestRecord(
            self.request_id, self.method, self.path, None, self.idempotency_key, at=fake.clock()
        )
        self.pairs: list[tuple[str, str]] = []
        self.slot: tuple[Scope, str] | None = None
        self.saved: SavedResponse | None = None
        self.late_fault: Fault | None = None

    async def run(self) -> Response:
        with self.fake.lock:
            self.fake.request_log.append(self.record)
        try:
            try:
                status, payload, replayable = 200, await self._execute(), True
            except _Replay as replay:
                return self._replay(replay.saved)
            except StripeApiError as error:
                status, payload, replayable = error.status, error.body(), error.replayable
                self.headers.update(error.headers)
            body = json.dumps(payload, indent=2).encode()
            if self.slot is not None and replayable:
                self.saved = SavedResponse(
                    self.method,
                    self.path,
                    self.pairs,
                    status,
                    body,
                    {k: v for k, v in self.headers.items() if k != "Request-Id"},
                    self.request_id,
                    self.fake.clock(),
                )
        finally:
            # Whatever happened, the key must not stay "in progress" forever.
            if self.slot is not None:
                with self.fake.lock:
                    self.fake.idempotency.finish(*self.slot, self.saved)
        if self.late_fault is not None:
            # The work is done and saved; the client only sees the fault.
            late = self.late_fault.error()
            status, body = late.status, json.dumps(late.body(), indent=2).encode()
            self.headers.update(late.headers)
        return self._respond(status, body)

    async def _execute(self) -> Any:
        fake = self.fake
        key = _api_key(self.request)
        platform = fake.platform_for_key(key) if key else None
        if key is None or platform is None:
            raise authentication(key)
        connected = self.request.headers.get("stripe-account") or None
        if connected is not None and not fake.may_act_on(platform, connected):
            raise no_access(key, connected)
        account = connected or platform
        version = self.request.headers.get("stripe-version") or fake.default_api_version
        if not _VERSION.match(version):
            raise invalid_param(f"Invalid Stripe API version: {version}", param="Stripe-Version")
        self.headers["Stripe-Version"] = version
        with fake.lock:
            self.record.account = account
            fault = fake.traffic.take_fault(self.method, self.path, account)
            if fault is not None:
                self.record.fault = fault.kind
                if not fault.after_execution:
                    raise fault.error()
                self.late_fault = fault
            if fake.traffic.throttled(self.method, account):
                self.record.fault = "rate_limiter"
                raise rate_limited()
            delay = fake.traffic.delay(self.path)
        encoded = (await self.request.body()).decode("utf-8", "replace") if self.method == "POST" else ""
        encoded = encoded or self.request.url.query
        self.pairs = flat_pairs(encoded)
        if self.idempotency_key is not None:
            scope: Scope = (platform, connected)
            with fake.lock:
                saved = fake.idempotency.begin(
                    scope, self.idempotency_key, self.method, self.path, self.pairs
                )
                if saved is None:
                    self.slot = (scope, self.idempotency_key)
            if saved is not None:
                await asyncio.sleep(delay)
                raise _Replay(saved)
        await asyncio.sleep(delay)
        params = parse_form(encoded)
        if self.endpoint.params is not None:
            check_known(params, self.endpoint.params)
        with fake.lock:
            call = Call(
                fake=fake,
                render=Renderer(fake, version),
                method=self.method,
                path=self.path,
                account=account,
                params=params,
                path_params={k: str(v) for k, v in self.request.path_params.items()},
                idempotency_key=self.idempotency_key,
                request_id=self.request_id,
            )
            return self.endpoint.handler(call)

    def _replay(self, saved: SavedResponse) -> Response:
        self.record.replayed = True
        self.headers.update(saved.headers)
        self.headers.update({"Idempotent-Replayed": "true", "Original-Request": saved.request_id})
        return self._respond(saved.status, saved.body)

    def _respond(self, status: int, body: bytes) -> Response:
        with self.fake.lock:
            self.record.status = status
        return Response(body, status_code=status, headers=self.headers, media_type="application/json")


class _Replay(Exception):
    def __init__(self, saved: SavedResponse) -> None:
        super().__init__("replay")
        self.saved = saved


def _api_key(request: Request) -> str | None:
    """The secret key from ``Bearer <key>`` or HTTP basic auth with the key as user name."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return credentials or None
        return user or None
    return None
