"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://dunning.dev/problems/"

log = structlog.get_logger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or _TITLES.get(status, "error").lower().replace(" ", "-")
        self.title = title or _TITLES.get(status, "Error")
        self.extra = extra
        self.headers = headers


def problem_response(
    request: Request, problem: Problem, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
        **problem.extra,
    }
    # The id of the X-Request-ID header, in the body too: a pasted error names its log lines.
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc, headers=exc.headers)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "error")
        # Keep the exception's headers: a 405 must say what is Allowed (RFC 9110 §15.5.6).
        return problem_response(request, Problem(exc.status_code, detail), headers=dict(exc.headers or {}))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()]
        return problem_response(
            request,
            Problem(422, "the request does not match the schema", kind="validation", errors=errors),
        )

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        if _text_postgres_cannot_store(exc):
            # A NUL (\u0000) in a string passes JSON and schema validation but no PostgreSQL text
            # column takes it: the client's input is wrong, not the server.
            return problem_response(
                request, Problem(422, "text must not contain NUL (\\u0000) characters", kind="validation")
            )
        return await on_unhandled(request, exc)

    async def on_unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path, error=type(exc).__name__)
        return problem_response(request, Problem(500, "an unexpected error occurred; it has been logged"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    # A handler for the class (not Exception): answered here, not re-raised to the server.
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(Exception, on_unhandled)


# character_not_in_repertoire (a NUL in text), untranslatable_character (a NUL in jsonb).
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def _text_postgres_cannot_store(exc: BaseException) -> bool:
    # SQLAlchemy's DBAPIError keeps the driver's error in .orig; asyncpg's carries the SQLSTATE.
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in _UNSTORABLE_TEXT
