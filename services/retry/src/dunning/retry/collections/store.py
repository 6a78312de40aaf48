"""All SQL of collections rows: promises, plans and instalments, customer disputes, and the
durable timers (a promise's check, an instalment's charge) claimed with ``FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.retry.collections.tables import customer_disputes, instalments, plans, promises
from dunning.retry.tables import SCHEMA


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


async def active_promise(session: AsyncSession, case_id: str) -> Any | None:
    query = select(promises).where(
        promises.c.case_id == case_id, promises.c.status.in_(("active", "claimed"))
    )
    return (await session.execute(query)).first()


async def active_plan(session: AsyncSession, case_id: str) -> Any | None:
    query = select(plans).where(plans.c.case_id == case_id, plans.c.status.in_(("active", "settling")))
    return (await session.execute(query)).first()


async def plan_instalments(session: AsyncSession, plan_id: str) -> list[Any]:
    query = select(instalments).where(instalments.c.plan_id == plan_id).order_by(instalments.c.number)
    return list((await session.execute(query)).all())


async def open_dispute(session: AsyncSession, case_id: str) -> Any | None:
    query = select(customer_disputes).where(
        customer_disputes.c.case_id == case_id, customer_disputes.c.status == "open"
    )
    return (await session.execute(query)).first()


async def insert_promise(
    session: AsyncSession,
    *,
    case_id: str,
    tenant_id: str,
    pay_by: date,
    check_at: datetime,
    source: str,
    actor: str | None,
    now: datetime,
) -> str:
    promise_id = new_id("prm")
    await session.execute(
        promises.insert().values(
            id=promise_id,
            case_id=case_id,
            tenant_id=tenant_id,
            pay_by=pay_by,
            check_at=check_at,
            status="active",
            source=source,
            actor=actor,
            created_at=now,
        )
    )
    return promise_id


async def insert_plan(
    session: AsyncSession,
    *,
    case_id: str,
    tenant_id: str,
    kind: str,
    amounts: list[int],
    due: list[tuple[date, datetime]],
    currency: str,
    source: str,
    actor: str | None,
    now: datetime,
    settlement_id: str | None = None,
) -> str:
    plan_id = new_id("plan")
    await session.execute(
        plans.insert().values(
            id=plan_id,
            case_id=case_id,
            tenant_id=tenant_id,
            kind=kind,
            status="active",
            amount=sum(amounts),
            currency=currency,
            instalments=len(amounts),
            settlement_id=settlement_id,
            source=source,
            actor=actor,
            created_at=now,
        )
    )
    await session.execute(
        instalments.insert(),
        [
            {
                "id": new_id("inst"),
                "plan_id": plan_id,
                "case_id": case_id,
                "tenant_id": tenant_id,
                "number": number,
                "amount": amount,
                "currency": currency,
                "due_on": due_on,
                "due_at": due_at,
                "status": "scheduled",
            }
            for number, (amount, (due_on, due_at)) in enumerate(zip(amounts, due, strict=True), start=1)
        ],
    )
    return plan_id


async def end_plan(session: AsyncSession, plan_id: str, status: str, now: datetime, note: str) -> None:
    """Close a plan (completed, defaulted, canceled); its unpaid instalments are canceled."""
    await session.execute(
        update(plans).where(plans.c.id == plan_id).values(status=status, ended_at=now, note=note)
    )
    await session.execute(
        update(instalments)
        .where(instalments.c.plan_id == plan_id, instalments.c.status.in_(("scheduled", "claimed")))
        .values(status="canceled", note=note, claimed_by=None)
    )


async def end_promise(session: AsyncSession, promise_id: str, status: str, now: datetime) -> None:
    await session.execute(
        update(promises)
        .where(promises.c.id == promise_id)
        .values(status=status, resolved_at=now, claimed_by=None)
    )


async def claim_due(
    session: AsyncSession,
    table: str,
    due_column: str,
    ready: str,
    *,
    now: datetime,
    worker: str,
    batch: int,
    ttl: timedelta,
) -> list[Any]:
    """Take up to ``batch`` due rows of ``table``; claims older than ``ttl`` (a dead worker) first."""
    await session.execute(
        text(
            f"UPDATE {SCHEMA}.{table} SET status = '{ready}', claimed_by = NULL "
            "WHERE status = 'claimed' AND claimed_at < :stale"
        ),
        {"stale": now - ttl},
    )
    result = await session.execute(
        text(
            f"UPDATE {SCHEMA}.{table} SET status = 'claimed', claimed_at = :now, claimed_by = :me "
            f"WHERE id IN (SELECT id FROM {SCHEMA}.{table} WHERE status = '{ready}' AND {due_column} <= :now "
            f"ORDER BY {due_column} LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING *"
        ),
        {"now": now, "me": worker, "n": batch},
    )
    return sorted((row._mapping for row in result), key=lambda r: (r[due_column], r["id"]))


async def still_claimed(session: AsyncSession, table: str, row_id: str, worker: str) -> bool:
    found = await session.scalar(
        text(
            f"SELECT id FROM {SCHEMA}.{table} WHERE id = :id AND status = 'claimed' "
            "AND claimed_by = :me FOR UPDATE"
        ),
        {"id": row_id, "me": worker},
    )
    return found is not None


async def settling_plans(session: AsyncSession, batch: int) -> list[Any]:
    """Plans whose every instalment is paid, waiting for the invoice to be marked paid."""
    query = select(plans).where(plans.c.status == "settling").order_by(plans.c.created_at).limit(batch)
    return list((await session.execute(query)).all())


async def start_plan_rows(
    session: AsyncSession,
    *,
    case: Any,
    kind: str,
    amounts: list[int],
    due: list[tuple[date, datetime]],
    currency: str,
    source: str,
    actor: str | None,
    now: datetime,
    settlement_id: str | None = None,
) -> str:
    return await insert_plan(
        session,
        case_id=case.id,
        tenant_id=case.tenant_id,
        kind=kind,
        amounts=amounts,
        due=due,
        currency=currency,
        source=source,
        actor=actor,
        now=now,
        settlement_id=settlement_id,
    )


async def insert_dispute(
    session: AsyncSession,
    *,
    dispute_id: str,
    case_id: str,
    tenant_id: str,
    reason: str,
    details: str | None,
    source: str,
    actor: str | None,
    now: datetime,
) -> None:
    await session.execute(
        customer_disputes.insert().values(
            id=dispute_id,
            case_id=case_id,
            tenant_id=tenant_id,
            reason=reason,
            details=details,
            status="open",
            source=source,
            actor=actor,
            opened_at=now,
        )
    )
