"""The accounting record of money given up: a settlement's difference, a write-off with its
reason; and its export (``adjustments.csv``), streamed and CSV-injection guarded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.retry.collections.store import new_id
from dunning.retry.collections.tables import adjustments, settlements
from dunning.retry.csv_export import decimal_amount, lines
from dunning.retry.repository import CaseRecord
from dunning.retry.tables import cases

COLUMNS = (
    "adjustment_id",
    "kind",
    "case_id",
    "invoice_id",
    "customer_id",
    "currency",
    "original_amount_minor",
    "collected_minor",
    "written_off_minor",
    "original_amount",
    "collected",
    "written_off",
    "reason",
    "note",
    "settlement_id",
    "approved_by",
    "recorded_by",
    "at",
)


async def write_off(
    session: AsyncSession, case: CaseRecord, *, reason: str, note: str | None, actor: str, now: datetime
) -> None:
    """The whole amount owed given up (the caller wrote the case off)."""
    amount = case.details.get("amount")
    await session.execute(
        adjustments.insert().values(
            id=new_id("adj"),
            case_id=case.id,
            tenant_id=case.tenant_id,
            kind="write_off",
            reason=reason,
            note=note,
            original_amount=amount,
            collected=0,
            written_off=amount,
            currency=case.details.get("currency"),
            actor=actor,
            at=now,
        )
    )


async def settlement_paid(session: AsyncSession, case: CaseRecord, settlement_id: str, now: datetime) -> None:
    """The settled amount is collected: the rest of what was owed is written off (reason settlement)."""
    row = (await session.execute(select(settlements).where(settlements.c.id == settlement_id))).one()
    await session.execute(update(settlements).where(settlements.c.id == settlement_id).values(status="paid"))
    await session.execute(
        adjustments.insert().values(
            id=new_id("adj"),
            case_id=case.id,
            tenant_id=case.tenant_id,
            kind="settlement",
            reason="settlement",
            note=row.reason,
            original_amount=row.original_amount,
            collected=row.amount,
            written_off=row.original_amount - row.amount,
            currency=row.currency,
            settlement_id=row.id,
            approved_by=row.decided_by,
            actor=row.proposed_by,
            at=now,
        )
    )


async def csv_lines(session: AsyncSession, tenant_id: str, *, batch: int = 500) -> AsyncIterator[str]:
    """The header, then the tenant's adjustments oldest first, read through a server-side cursor."""
    yield lines([COLUMNS])
    query = (
        select(adjustments, cases.c.invoice_id, cases.c.customer_id)
        .join(cases, cases.c.id == adjustments.c.case_id)
        .where(adjustments.c.tenant_id == tenant_id)
        .order_by(adjustments.c.at, adjustments.c.id)
    )
    result = await session.stream(query.execution_options(yield_per=batch))
    async for partition in result.partitions(batch):
        yield lines(_row(r._mapping) for r in partition)


def _row(r: Any) -> list[Any]:
    currency = r["currency"]
    return [
        r["id"],
        r["kind"],
        r["case_id"],
        r["invoice_id"],
        r["customer_id"],
        currency,
        r["original_amount"],
        r["collected"],
        r["written_off"],
        decimal_amount(r["original_amount"], currency),
        decimal_amount(r["collected"], currency),
        decimal_amount(r["written_off"], currency),
        r["reason"],
        r["note"],
        r["settlement_id"],
        r["approved_by"],
        r["actor"],
        r["at"],
    ]
