"""Tenant API keys on every ``/v1`` route: ``Authorization: Bearer dk_...``, scopes read/write/admin.

A key only ever sees its own tenant: routes take the tenant from the principal, never from the
request, and answer 404 (not 403) for another tenant's objects so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from dunning.common.db import Database
from dunning.common.problems import Problem
from dunning.common.tenancy.service import Principal, authenticate

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dunning"'}


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "send the tenant API key as 'Authorization: Bearer <key>'",
            kind="unauthenticated",
            headers=_CHALLENGE,
        )
    async with database(request).unit_of_work() as uow:
        principal = await authenticate(uow.session, token.strip())
    if principal is None:
        raise Problem(401, "the API key is unknown or revoked", kind="unauthenticated", headers=_CHALLENGE)
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
