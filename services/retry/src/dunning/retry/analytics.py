"""Recovery analytics: the request's window and grouping, and the report assembled from the few
aggregate rows ``analytics_query`` returns (definitions: docs/analytics.md)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.problems import Problem
from dunning.retry.analytics_query import (
    BY_CHANNEL,
    BY_CURRENCY,
    BY_LEVEL,
    GROUP_KEYS,
    TOTAL,
    GroupRow,
    recovery_rows,
)

GROUP_BY = tuple(GROUP_KEYS)
MAX_SPAN = timedelta(days=366)


class CurrencyAmounts(BaseModel):
    currency: str
    at_risk: int = Field(description="Sum of the cohort's case amounts, minor units.")
    recovered: int = Field(description="Sum of the recovered cases' amounts, minor units.")


class PrecedingMessage(BaseModel):
    by_channel: dict[str, int] = Field(
        description="Recovered cases by the channel of the last message sent before recovery ('none')."
    )
    by_level: dict[str, int] = Field(description="The same, by that message's escalation level.")


class RecoveryGroup(BaseModel):
    key: str = Field(description="The group's value of `group_by` ('all' without grouping).")
    cases_opened: int
    cases_recovered: int
    recovery_rate: float | None = Field(description="cases_recovered / cases_opened (4 decimals).")
    amounts: list[CurrencyAmounts] = Field(description="Per currency; never summed across currencies.")
    time_to_recover_p50_seconds: int | None
    time_to_recover_p90_seconds: int | None
    attempts_before_recovery: int = Field(description="Failed charges before recovery + 1, summed.")
    attempts_per_recovery: float | None
    messages_before_recovery: int = Field(description="notification.sent before recovery, summed.")
    messages_per_recovery: float | None
    last_message_before_recovery: PrecedingMessage


class RecoveryReport(BaseModel):
    opened_from: datetime = Field(description="Cohort: cases opened at or after this instant (UTC)…")
    opened_to: datetime = Field(description="…and before this one.")
    group_by: str
    groups: list[RecoveryGroup]


def parse_instant(name: str, raw: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC when it names no offset)."""
    # A '+' in a query string that was not percent-encoded arrives as a space.
    value = raw.strip().replace(" ", "+")
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Problem(
            400,
            f"{name} must be an ISO 8601 date or date-time (2026-11-01 or 2026-11-01T00:00:00Z)",
            kind="invalid-range",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


DEFAULT_SPAN = timedelta(days=30)


def window(
    raw_from: str | None, raw_to: str | None, *, now: datetime, max_span: timedelta | None
) -> tuple[datetime, datetime]:
    """[from, to): ``to`` defaults to now, ``from`` to 30 days before ``to``."""
    end = parse_instant("to", raw_to) if raw_to else now
    start = parse_instant("from", raw_from) if raw_from else end - DEFAULT_SPAN
    if start >= end:
        raise Problem(400, "from must be before to", kind="invalid-range")
    if max_span is not None and end - start > max_span:
        raise Problem(400, f"from..to may span at most {max_span.days} days", kind="invalid-range")
    return start, end


def check_group_by(group_by: str) -> str:
    if group_by not in GROUP_KEYS:
        raise Problem(400, f"group_by must be one of {', '.join(GROUP_BY)}", kind="invalid-filter")
    return group_by


async def recovery_report(
    session: AsyncSession, *, tenant_id: str, group_by: str, start: datetime, end: datetime
) -> RecoveryReport:
    rows = await recovery_rows(session, tenant_id=tenant_id, group_by=group_by, start=start, end=end)
    splits: dict[str, list[GroupRow]] = defaultdict(list)
    for row in rows:  # a handful of rows per group, whatever the number of cases
        if row.grouped != TOTAL:
            splits[row.key].append(row)
    groups = [_group(row, splits[row.key]) for row in rows if row.grouped == TOTAL]
    groups.sort(key=lambda g: _order(group_by, g.key))
    return RecoveryReport(opened_from=start, opened_to=end, group_by=group_by, groups=groups)


def _group(total: GroupRow, splits: list[GroupRow]) -> RecoveryGroup:
    recovered = total.recovered
    amounts = sorted(
        (
            CurrencyAmounts(currency=s.currency, at_risk=s.at_risk, recovered=s.amount_recovered)
            for s in splits
            if s.grouped == BY_CURRENCY and s.currency is not None
        ),
        key=lambda a: a.currency,
    )
    preceding = PrecedingMessage(
        by_channel={
            s.last_channel: s.recovered
            for s in sorted(splits, key=lambda s: s.last_channel or "")
            if s.grouped == BY_CHANNEL and s.last_channel is not None and s.recovered
        },
        by_level={
            s.last_level: s.recovered
            for s in sorted(splits, key=lambda s: s.last_level or "")
            if s.grouped == BY_LEVEL and s.last_level is not None and s.recovered
        },
    )
    return RecoveryGroup(
        key=total.key,
        cases_opened=total.opened,
        cases_recovered=recovered,
        recovery_rate=_ratio(recovered, total.opened),
        amounts=amounts,
        time_to_recover_p50_seconds=total.p50,
        time_to_recover_p90_seconds=total.p90,
        attempts_before_recovery=total.attempts,
        attempts_per_recovery=_ratio(total.attempts, recovered),
        messages_before_recovery=total.messages,
        messages_per_recovery=_ratio(total.messages, recovered),
        last_message_before_recovery=preceding,
    )


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _order(group_by: str, key: str) -> tuple[int, int, str]:
    # Attempt numbers sort as numbers; 'none' (and 'unknown') go last in every grouping.
    if key in ("none", "unknown"):
        return (2, 0, key)
    if group_by == "attempt_number" and key.isdigit():
        return (0, int(key), key)
    return (1, 0, key)
