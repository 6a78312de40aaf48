"""The HTTP shell every service shares: problem errors, request ids, metrics, health routes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import structlog
from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dunning.common.health import Health
from dunning.common.metrics import HTTP_REQUEST_SECONDS, metrics_endpoint
from dunning.common.openapi import document_problems
from dunning.common.problems import Problem, install_problem_handlers, problem_response

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_app(
    *,
    title: str,
    routers: Sequence[APIRouter],
    health: Health,
    lifespan: Lifespan | None = None,
    version: str = "0.1.0",
    max_body_size: int | None = None,
) -> FastAPI:
    app = FastAPI(title=title, version=version, lifespan=lifespan)
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    app.add_api_route("/healthz", health.liveness, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", health.readiness, methods=["GET"], include_in_schema=False)
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.state.health = health
    document_problems(app)

    if max_body_size is not None:
        # A bigger body is refused with 413 (problem+json) before a handler buffers or parses it.
        app.add_middleware(BodyLimitMiddleware, limit=max_body_size)
    app.add_middleware(RequestContextMiddleware)
    return app


class BodyLimitMiddleware:
    """413 for a declared Content-Length over the limit; a Problem(413) once a streamed body passes it.

    FastAPI's own limit answers a declared length in plain text; every error here is problem+json.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            request = Request(scope)
            await problem_response(request, self._problem())(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # An HTTPException: FastAPI re-raises those from body parsing (others become 400).
                    raise HTTPException(413, self._problem().detail)
            return message

        await self.app(scope, receive_within_limit, send)

    def _problem(self) -> Problem:
        return Problem(413, f"the body is larger than {self.limit} bytes", kind="body-too-large")


class RequestContextMiddleware:
    """Request id in logs and response, latency histogram by route template (pure ASGI: cheap)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                HTTP_REQUEST_SECONDS.labels(scope["method"], _route_template(scope), status).observe(
                    time.perf_counter() - started
                )


def _route_template(scope: Scope) -> str:
    # Label by template (/v1/webhooks/stripe/{tenant_id}), never by raw path: bounded cardinality.
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
