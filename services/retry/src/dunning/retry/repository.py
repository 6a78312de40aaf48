"""All SQL of the ``retry`` schema: case ledgers and their timeline."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.retry.domain.lifecycle import CaseStatus, InvoiceLedger
from dunning.retry.tables import cases, policies, timeline


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: str
    tenant_id: str
    invoice_id: str
    ledger: InvoiceLedger
    details: dict[str, Any]


# Columns that describe the invoice and customer rather than the lifecycle.
DETAIL_COLUMNS = (
    "customer_id",
    "subscription_id",
    "amount",
    "currency",
    "decline_code",
    "payment_method_id",
    "hosted_invoice_url",
    "customer_email",
    "customer_name",
    "provider_account",
    "customer_country",
    "customer_region",
    "invoice_number",
    "due_date",
)


def new_case_id() -> str:
    return f"case_{secrets.token_hex(8)}"


async def lock_or_create(
    session: AsyncSession, *, tenant_id: str, invoice_id: str, provider: str
) -> CaseRecord:
    """The invoice's ledger row, created if new, locked for the rest of the transaction."""
    await session.execute(
        insert(cases)
        .values(
            id=new_case_id(),
            tenant_id=tenant_id,
            invoice_id=invoice_id,
            provider=provider,
            status=CaseStatus.NONE.value,
        )
        .on_conflict_do_nothing(constraint="uq_cases_tenant_invoice")
    )
    row = (
        await session.execute(
            select(cases)
            .where(cases.c.tenant_id == tenant_id, cases.c.invoice_id == invoice_id)
            .with_for_update()
        )
    ).one()
    return _record(row._mapping)


async def lock_cases_of_customer(
    session: AsyncSession, *, tenant_id: str, customer_id: str, status: CaseStatus
) -> list[CaseRecord]:
    """A customer's cases in ``status``, locked; in id order, so two events never deadlock."""
    query = (
        select(cases)
        .where(cases.c.tenant_id == tenant_id, cases.c.customer_id == customer_id, cases.c.status == status)
        .order_by(cases.c.id)
        .with_for_update()
    )
    return [_record(row._mapping) for row in await session.execute(query)]


async def case_row(session: AsyncSession, case_id: str) -> Any:
    """Every column of a case, as a mapping (read only)."""
    return (await session.execute(select(cases).where(cases.c.id == case_id))).one()._mapping


async def lock_case(session: AsyncSession, case_id: str) -> CaseRecord:
    row = (await session.execute(select(cases).where(cases.c.id == case_id).with_for_update())).one()
    return _record(row._mapping)


async def save(session: AsyncSession, case_id: str, ledger: InvoiceLedger, details: dict[str, Any]) -> None:
    known = {k: v for k, v in details.items() if k in DETAIL_COLUMNS and v is not None}
    await session.execute(
        update(cases)
        .where(cases.c.id == case_id)
        .values(
            status=ledger.status.value,
            opened_at=ledger.opened_at,
            failures=ledger.failures,
            pause_reasons=sorted(ledger.pause_reasons),
            resolution=ledger.resolution,
            resolved_at=ledger.resolved_at,
            last_fact_at=ledger.last_fact_at,
            updated_at=func.now(),
            **known,
        )
    )


async def add_to_timeline(
    session: AsyncSession,
    *,
    case_id: str,
    tenant_id: str,
    at: datetime,
    kind: str,
    type: str,
    note: str,
    cause_event_id: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    await session.execute(
        timeline.insert().values(
            case_id=case_id,
            tenant_id=tenant_id,
            at=at,
            kind=kind,
            type=type,
            note=note,
            cause_event_id=cause_event_id,
            data=data or {},
        )
    )


def _record(row: Any) -> CaseRecord:
    ledger = InvoiceLedger(
        status=CaseStatus(row["status"]),
        opened_at=row["opened_at"],
        failures=row["failures"],
        pause_reasons=frozenset(row["pause_reasons"]),
        resolution=row["resolution"],
        resolved_at=row["resolved_at"],
        last_fact_at=row["last_fact_at"],
    )
    return CaseRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        invoice_id=row["invoice_id"],
        ledger=ledger,
        details={name: row[name] for name in DETAIL_COLUMNS},
    )


async def list_cases(
    session: AsyncSession,
    *,
    tenant_id: str,
    status: str | None,
    customer_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
    invoice_id: str | None = None,
) -> list[Any]:
    """A tenant's cases, newest first, keyset-paginated on (opened_at, id)."""
    query = select(cases).where(cases.c.tenant_id == tenant_id, cases.c.opened_at.is_not(None))
    if status is not None:
        query = query.where(cases.c.status == status)
    if customer_id is not None:
        query = query.where(cases.c.customer_id == customer_id)
    if invoice_id is not None:
        query = query.where(cases.c.invoice_id == invoice_id)
    if after is not None:
        at, case_id = after
        query = query.where(tuple_(cases.c.opened_at, cases.c.id) < tuple_(literal(at), literal(case_id)))
    query = query.order_by(cases.c.opened_at.desc(), cases.c.id.desc()).limit(limit)
    return list((await session.execute(query)).all())


async def get_case(session: AsyncSession, *, tenant_id: str, case_id: str) -> Any | None:
    # The tenant is part of the key: another tenant's case id finds nothing.
    query = select(cases).where(
        cases.c.id == case_id, cases.c.tenant_id == tenant_id, cases.c.opened_at.is_not(None)
    )
    return (await session.execute(query)).first()


async def case_timeline(session: AsyncSession, *, case_id: str) -> list[Any]:
    query = select(timeline).where(timeline.c.case_id == case_id).order_by(timeline.c.at, timeline.c.id)
    return list((await session.execute(query)).all())


async def get_policy(session: AsyncSession, tenant_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] | None = await session.scalar(
        select(policies.c.body).where(policies.c.tenant_id == tenant_id)
    )
    return body


async def put_policy(session: AsyncSession, tenant_id: str, body: dict[str, Any]) -> None:
    statement = insert(policies).values(tenant_id=tenant_id, body=body)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[policies.c.tenant_id],
            set_={"body": statement.excluded.body, "updated_at": func.now()},
        )
    )
