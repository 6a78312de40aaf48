"""CSV for accounting and CRM: the case list (streamed) and the recovery report, RFC 4180, with
money as integer minor units plus a decimal column, and formula-like cells neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.money import minor_unit_exponent
from dunning.retry.analytics import RecoveryReport
from dunning.retry.tables import cases

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CASE_COLUMNS = (
    "id",
    "invoice_id",
    "customer_id",
    "subscription_id",
    "status",
    "opened_at",
    "resolved_at",
    "resolution",
    "amount_minor",
    "currency",
    "amount",
    "decline_code",
    "payment_method_id",
    "failures",
    "provider",
    "provider_account",
    "updated_at",
)

REPORT_COLUMNS = (
    "group_by",
    "key",
    "cases_opened",
    "cases_recovered",
    "recovery_rate",
    "time_to_recover_p50_seconds",
    "time_to_recover_p90_seconds",
    "attempts_before_recovery",
    "attempts_per_recovery",
    "messages_before_recovery",
    "messages_per_recovery",
    "last_channel_before_recovery",
    "last_level_before_recovery",
    "currency",
    "amount_at_risk_minor",
    "amount_recovered_minor",
    "amount_at_risk",
    "amount_recovered",
)


def neutralise(value: str) -> str:
    """A text cell a spreadsheet would evaluate, prefixed with ``'`` so it stays text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return str(value)  # numbers we computed: never neutralised, so they stay numbers
    return neutralise(str(value))


def decimal_amount(minor: int | None, currency: str | None) -> str:
    """``4500 EUR`` → ``45.00``; ``4500 JPY`` → ``4500`` (ISO 4217 exponent)."""
    if minor is None or not currency:
        return ""
    exponent = minor_unit_exponent(currency)
    if exponent == 0:
        return str(minor)
    whole, part = divmod(abs(minor), 10**exponent)
    return f"{'-' if minor < 0 else ''}{whole}.{part:0{exponent}d}"


def lines(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180: CRLF, quotes doubled
    writer.writerows([cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def export_query(
    *,
    tenant_id: str,
    status: str | None,
    customer_id: str | None,
    start: datetime | None,
    end: datetime | None,
) -> Select[Any]:
    query = select(cases).where(cases.c.tenant_id == tenant_id, cases.c.opened_at.is_not(None))
    if status is not None:
        query = query.where(cases.c.status == status)
    if customer_id is not None:
        query = query.where(cases.c.customer_id == customer_id)
    if start is not None:
        query = query.where(cases.c.opened_at >= start)
    if end is not None:
        query = query.where(cases.c.opened_at < end)
    return query.order_by(cases.c.opened_at.desc(), cases.c.id.desc())


async def case_lines(session: AsyncSession, query: Select[Any], *, batch: int = 500) -> AsyncIterator[str]:
    """The header, then the cases in chunks read through a server-side cursor: memory stays flat."""
    yield lines([CASE_COLUMNS])
    result = await session.stream(query.execution_options(yield_per=batch))
    async for partition in result.partitions(batch):
        yield lines(_case_row(r._mapping) for r in partition)


def _case_row(row: Any) -> list[Any]:
    money = {"amount_minor": row["amount"], "amount": decimal_amount(row["amount"], row["currency"])}
    return [money[name] if name in money else row[name] for name in CASE_COLUMNS]


def report_lines(report: RecoveryReport) -> str:
    """One row per group and currency (a group without amounts has one row, currency empty)."""
    rows: list[list[Any]] = [list(REPORT_COLUMNS)]
    for group in report.groups:
        shared = [
            report.group_by,
            group.key,
            group.cases_opened,
            group.cases_recovered,
            group.recovery_rate,
            group.time_to_recover_p50_seconds,
            group.time_to_recover_p90_seconds,
            group.attempts_before_recovery,
            group.attempts_per_recovery,
            group.messages_before_recovery,
            group.messages_per_recovery,
            _counts(group.last_message_before_recovery.by_channel),
            _counts(group.last_message_before_recovery.by_level),
        ]
        if not group.amounts:
            rows.append([*shared, None, None, None, None, None])
        rows.extend(
            [
                *shared,
                amount.currency,
                amount.at_risk,
                amount.recovered,
                decimal_amount(amount.at_risk, amount.currency),
                decimal_amount(amount.recovered, amount.currency),
            ]
            for amount in group.amounts
        )
    return lines(rows)


def _counts(counts: dict[str, int]) -> str:
    return ";".join(f"{k}={v}" for k, v in counts.items())
