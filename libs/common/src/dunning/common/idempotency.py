"""``Idempotency-Key`` on POST actions: the first request's answer is kept and replayed.

The key row is written in the same transaction as the action's effect, so an action either
happened with its answer recorded, or did not happen at all; a concurrent request with the same
key waits on the row and then replays. A key reused for a different request is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from dunning.common.db import Database
from dunning.common.migrations import check_schema_name
from dunning.common.problems import Problem

MAX_KEY_LENGTH = 255


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("tenant_id", Text, primary_key=True),
        Column("key", Text, primary_key=True),
        Column("request", Text, nullable=False),  # method, path and body digest
        Column("status_code", Integer),
        Column("body", JSONB),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def create_idempotency_v1(op: Any, schema: str) -> None:
    """Migration step (frozen): the table as ``idempotency_table`` had it in v1."""
    import sqlalchemy as sa

    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("body", JSONB),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return f"{method} {path} {hashlib.sha256(body).hexdigest()}"


async def once(
    session: AsyncSession,
    *,
    schema: str,
    tenant_id: str,
    key: str | None,
    fingerprint: str,
    run: Callable[[], Awaitable[Answer]],
) -> Answer:
    """Run the action, or replay the answer recorded under ``key``; the caller commits."""
    if key is None:
        return await run()
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise Problem(
            400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters", kind="invalid-idempotency-key"
        )
    name = check_schema_name(schema)
    claimed = await session.execute(
        text(
            f"INSERT INTO {name}.idempotency_keys (tenant_id, key, request) VALUES (:t, :k, :r) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        ),
        {"t": tenant_id, "k": key, "r": fingerprint},
    )
    if claimed.first() is None:
        # Taken: wait for the first request's transaction, then answer as it did.
        row = (
            await session.execute(
                text(
                    f"SELECT request, status_code, body FROM {name}.idempotency_keys "
                    "WHERE tenant_id = :t AND key = :k FOR UPDATE"
                ),
                {"t": tenant_id, "k": key},
            )
        ).one()
        if row.request != fingerprint:
            raise Problem(
                422,
                "this Idempotency-Key was used for a different request",
                kind="idempotency-key-reused",
            )
        return Answer(row.status_code, dict(row.body), replayed=True)
    answer = await run()
    await session.execute(
        text(
            f"UPDATE {name}.idempotency_keys SET status_code = :s, body = CAST(:b AS jsonb) "
            "WHERE tenant_id = :t AND key = :k"
        ),
        {"s": answer.status_code, "b": json.dumps(answer.body), "t": tenant_id, "k": key},
    )
    return answer


async def respond_once(
    request: Request,
    db: Database,
    *,
    schema: str,
    tenant_id: str,
    run: Callable[[AsyncSession], Awaitable[Answer]],
) -> JSONResponse:
    """A POST action in one transaction under the request's ``Idempotency-Key`` (``once``), with
    the answer as sent: a replay says so in ``Idempotent-Replayed``."""
    fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
    async with db.unit_of_work() as uow:

        async def in_transaction() -> Answer:
            return await run(uow.session)

        answer = await once(
            uow.session,
            schema=schema,
            tenant_id=tenant_id,
            key=request.headers.get("idempotency-key"),
            fingerprint=fingerprint,
            run=in_transaction,
        )
        await uow.commit()
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)
