"""The one SQL statement behind recovery analytics: a cohort of cases, the facts of each (from its
attempts and sent messages), aggregated per group with GROUPING SETS — no row reaches Python.

Every figure's definition is in docs/analytics.md; the SQL here is its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.money import THREE_DECIMAL_CURRENCIES, ZERO_DECIMAL_CURRENCIES
from dunning.retry.tables import SCHEMA

# A case's segment: the amount owed, in major units of its own currency (no FX conversion).
_SEGMENT = (
    "CASE WHEN f.amount IS NULL OR f.currency IS NULL THEN 'unknown' ELSE f.currency || ' ' || CASE"
    " WHEN f.amount < 10 * f.unit THEN '<10' WHEN f.amount < 100 * f.unit THEN '10-99'"
    " WHEN f.amount < 1000 * f.unit THEN '100-999' ELSE '1000+' END END"
)

# group_by → the SQL expression of a case's group key (a fixed list: never request text in SQL).
GROUP_KEYS: dict[str, str] = {
    "none": "'all'",
    "decline_code": "coalesce(f.first_decline, f.decline_code, 'none')",
    "attempt_number": "CASE WHEN f.recovered THEN (f.failed_before + 1)::text ELSE 'none' END",
    "payment_method_kind": "CASE WHEN f.card THEN 'card' ELSE 'unknown' END",
    "channel": "f.last_channel",
    "segment": _SEGMENT,
    "cohort_week": "to_char(f.opened_at AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')",
}

_FACTS = f"""
WITH cohort AS (
  SELECT c.id, c.opened_at, c.amount, c.currency, c.decline_code,
         c.status = 'recovered' AS recovered,
         CASE WHEN c.status = 'recovered' THEN c.resolved_at END AS recovered_at,
         CASE WHEN c.currency = ANY(:zero) THEN 1 WHEN c.currency = ANY(:three) THEN 1000 ELSE 100 END
           AS unit
  FROM {SCHEMA}.cases c
  WHERE c.tenant_id = :tenant AND c.opened_at >= :start AND c.opened_at < :end
), f AS (
  SELECT k.*,
    CASE WHEN k.recovered THEN floor(extract(epoch FROM k.recovered_at - k.opened_at))::bigint END
      AS ttr,
    a.failed_before, a.card, a.first_decline,
    coalesce(m.sent_before, 0) AS sent_before,
    coalesce(lm.channel, 'none') AS last_channel,
    coalesce(lm.level, 'none') AS last_level
  FROM cohort k
  CROSS JOIN LATERAL (
    SELECT count(*) FILTER (
             WHERE t.status = 'failed' AND coalesce(t.finished_at, t.due_at) <= k.recovered_at
           ) AS failed_before,
           coalesce(bool_or(t.card_brand IS NOT NULL), false) AS card,
           (array_agg(t.decline_code ORDER BY t.attempt_no)
              FILTER (WHERE t.decline_code IS NOT NULL))[1] AS first_decline
    FROM {SCHEMA}.attempts t WHERE t.case_id = k.id AND t.kind = 'charge'
  ) a
  LEFT JOIN LATERAL (
    SELECT count(*) AS sent_before FROM {SCHEMA}.case_timeline s
    WHERE s.case_id = k.id AND s.type = 'notification.sent' AND s.kind = 'message'
      AND s.at < k.recovered_at
  ) m ON k.recovered
  LEFT JOIN LATERAL (
    SELECT s.data ->> 'channel' AS channel, s.data ->> 'level' AS level FROM {SCHEMA}.case_timeline s
    WHERE s.case_id = k.id AND s.type = 'notification.sent' AND s.kind = 'message'
      AND (k.recovered_at IS NULL OR s.at < k.recovered_at)
    ORDER BY s.at DESC, s.id DESC LIMIT 1
  ) lm ON true
), g AS (SELECT f.*, {{key}} AS key FROM f)
SELECT key, currency, last_channel, last_level,
  GROUPING(currency, last_channel, last_level) AS grouped,
  count(*) AS opened,
  count(*) FILTER (WHERE recovered) AS recovered,
  sum(amount) AS at_risk,
  coalesce(sum(amount) FILTER (WHERE recovered), 0) AS amount_recovered,
  percentile_disc(0.5) WITHIN GROUP (ORDER BY ttr) AS p50,
  percentile_disc(0.9) WITHIN GROUP (ORDER BY ttr) AS p90,
  coalesce(sum(failed_before + 1) FILTER (WHERE recovered), 0) AS attempts,
  coalesce(sum(sent_before) FILTER (WHERE recovered), 0) AS messages
FROM g
GROUP BY GROUPING SETS ((key), (key, currency), (key, last_channel), (key, last_level))
"""

# GROUPING(currency, last_channel, last_level): a bit is set for each column *not* grouped on.
TOTAL, BY_CURRENCY, BY_CHANNEL, BY_LEVEL = 0b111, 0b011, 0b101, 0b110


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One output row of the statement: a group's totals, or its split by one column."""

    key: str
    grouped: int
    currency: str | None
    last_channel: str | None
    last_level: str | None
    opened: int
    recovered: int
    at_risk: int
    amount_recovered: int
    p50: int | None
    p90: int | None
    attempts: int
    messages: int


async def recovery_rows(
    session: AsyncSession, *, tenant_id: str, group_by: str, start: datetime, end: datetime
) -> list[GroupRow]:
    statement = text(_FACTS.replace("{key}", GROUP_KEYS[group_by]))
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "start": start,
        "end": end,
        "zero": sorted(ZERO_DECIMAL_CURRENCIES),
        "three": sorted(THREE_DECIMAL_CURRENCIES),
    }
    return [
        GroupRow(
            key=r.key,
            grouped=r.grouped,
            currency=r.currency,
            last_channel=r.last_channel,
            last_level=r.last_level,
            opened=r.opened,
            recovered=r.recovered,
            at_risk=int(r.at_risk or 0),
            amount_recovered=int(r.amount_recovered),
            p50=r.p50,
            p90=r.p90,
            attempts=int(r.attempts),
            messages=int(r.messages),
        )
        for r in await session.execute(statement, params)
    ]
