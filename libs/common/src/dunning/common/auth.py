"""Tenant API keys on every ``/v1`` route: ``Authorization: Bearer dk_...``, scopes read/write/admin.

A key only ever sees its own tenant: routes take the tenant from the principal, never from the
request, and answer 404 (not 403) for another tenant's objects so ids cannot be probed. Each
key is rate limited (``app.state.rate_limiter``, set by ``tenancy.api.install``).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from dunning.common.db import Database
from dunning.common.openapi import TENANT_API_KEY_SCHEME
from dunning.common.problems import Problem
from dunning.common.ratelimit import KeyRateLimiter
from dunning.common.tenancy.service import Principal, authenticate

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dunning"'}


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


# Declared as a security scheme so the OpenAPI document and /docs know how to authenticate.
tenant_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=TENANT_API_KEY_SCHEME,
    description="A tenant API key (`dk_...`), with the scope the route needs",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(tenant_bearer)]


async def current_principal(request: Request, credentials: BearerCredentials) -> Principal:
    token = credentials.credentials.strip() if credentials else ""
    if not token:
        raise Problem(
            401,
            "send the tenant API key as 'Authorization: Bearer <key>'",
            kind="unauthenticated",
            headers=_CHALLENGE,
        )
    async with database(request).unit_of_work() as uow:
        principal = await authenticate(uow.session, token)
    if principal is None:
        raise Problem(401, "the API key is unknown or revoked", kind="unauthenticated", headers=_CHALLENGE)
    limiter: KeyRateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None and (wait := limiter.acquire(principal.key_id)) > 0:
        raise Problem(
            429,
            f"this API key is over {limiter.rate:g} requests per second (burst {limiter.burst:g})",
            kind="rate-limited",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return principal


def require_scope(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        # admin implies write implies read.
        implied = {"read": {"read", "write", "admin"}, "write": {"write", "admin"}, "admin": {"admin"}}[scope]
        if not principal.scopes & implied:
            raise Problem(403, f"this API key lacks the '{scope}' scope", kind="insufficient-scope")
        return principal

    return check


ReadPrincipal = Annotated[Principal, Depends(require_scope("read"))]
WritePrincipal = Annotated[Principal, Depends(require_scope("write"))]
AdminPrincipal = Annotated[Principal, Depends(require_scope("admin"))]
