"""Recovery analytics benchmark: latency of GET /v1/analytics/recovery (and the CSV exports) per
group_by, over 100k cases with their attempts and sent messages, on an embedded PostgreSQL.

Run on demand (figures are printed, never asserted):

    PYTHONPATH=. .venv/bin/python bench/analytics.py --cases 100000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import text

from dunning.cli.system import MIGRATION_SETS
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.embedded import EmbeddedPostgres
from dunning.common.health import Health
from dunning.common.http import build_app
from dunning.common.migrations import upgrade
from dunning.common.tenancy.service import create_tenant
from dunning.retry.analytics import GROUP_BY
from dunning.retry.app import routers

# One statement per table, generated in the database: 100k cases in seconds, not minutes.
# Opened over 180 days; ~45% recovered within 0-10 days; 1-4 charges each; 0-3 messages each.
_CASES = """
INSERT INTO retry.cases (id, tenant_id, invoice_id, customer_id, status, opened_at, resolution,
  resolved_at, amount, currency, decline_code, provider)
SELECT 'case_b' || i, :tenant, 'in_b' || i, 'cus_' || (i % 20000),
  CASE WHEN i % 20 < 9 THEN 'recovered' WHEN i % 20 < 12 THEN 'exhausted' ELSE 'open' END,
  CAST(:t0 AS timestamptz) + (i % 180) * interval '1 day' + (i % 86400) * interval '1 second',
  CASE WHEN i % 20 < 9 THEN 'paid' END,
  CASE WHEN i % 20 < 9 THEN CAST(:t0 AS timestamptz) + (i % 180) * interval '1 day'
    + (i % 86400) * interval '1 second' + (i % 10) * interval '1 day' + interval '1 hour' END,
  500 + (i * 37) % 200000, (ARRAY['EUR', 'USD', 'GBP', 'JPY'])[1 + i % 4],
  (ARRAY['insufficient_funds', 'expired_card', 'do_not_honor', 'generic_decline'])[1 + (i / 4) % 4],
  'stripe'
FROM generate_series(1, CAST(:n AS int)) AS i
"""
_ATTEMPTS = """
INSERT INTO retry.attempts (id, case_id, tenant_id, attempt_no, kind, source, status, due_at,
  card_brand, reason, decline_code, finished_at)
SELECT 'att_' || c.id || '_' || k, c.id, c.tenant_id, k, 'charge',
  CASE WHEN k = 1 THEN 'processor' ELSE 'dunning' END,
  CASE WHEN c.status = 'recovered' AND k = 1 + length(c.id) % 4 THEN 'succeeded' ELSE 'failed' END,
  c.opened_at + (k - 1) * interval '2 days', CASE WHEN length(c.id) % 3 > 0 THEN 'visa' END,
  'bench', c.decline_code, c.opened_at + (k - 1) * interval '2 days'
FROM retry.cases c CROSS JOIN LATERAL generate_series(1, 1 + length(c.id) % 4) AS k
WHERE c.tenant_id = :tenant
"""
_MESSAGES = """
INSERT INTO retry.case_timeline (case_id, tenant_id, at, kind, type, note, data)
SELECT c.id, c.tenant_id, c.opened_at + k * interval '1 day', 'message', 'notification.sent', 'bench',
  jsonb_build_object('channel', (ARRAY['email', 'sms', 'in_app'])[1 + k % 3], 'level', k)
FROM retry.cases c CROSS JOIN LATERAL generate_series(1, substr(c.id, 7)::int % 4) AS k
WHERE c.tenant_id = :tenant
"""


async def seed(db: Database, box: SecretBox, n: int) -> str:
    async with db.unit_of_work() as uow:
        created = await create_tenant(uow.session, box, "Bench")
        await uow.commit()
    params = {"tenant": created.tenant_id, "n": n, "t0": datetime(2026, 1, 1, tzinfo=UTC)}
    async with db.engine.begin() as conn:
        for label, statement in (("cases", _CASES), ("attempts", _ATTEMPTS), ("messages", _MESSAGES)):
            started = time.perf_counter()
            result = await conn.execute(text(statement), params)
            print(f"inserted {result.rowcount:>7} {label} in {time.perf_counter() - started:.1f}s")
        for table in ("cases", "attempts", "case_timeline"):
            await conn.execute(text(f"ANALYZE retry.{table}"))
    return created.api_key


async def measure(db: Database, key: str, runs: int) -> None:
    app = build_app(title="bench", routers=routers(), health=Health())
    app.state.db = db
    auth = {"Authorization": f"Bearer {key}"}
    window = {"from": "2026-01-01", "to": "2026-07-01"}  # every case (opened over 180 days)
    targets = [("/v1/analytics/recovery", {"group_by": g}) for g in GROUP_BY]
    targets += [("/v1/analytics/recovery.csv", {"group_by": "decline_code"}), ("/v1/cases.csv", {})]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=300) as client:
        print(f"{'route':<28} {'group_by':<20} {'median ms':>10} {'max ms':>10} {'bytes':>10}")
        for path, extra in targets:
            times, size = [], 0
            for _ in range(runs):
                started = time.perf_counter()
                response = await client.get(path, params=window | extra, headers=auth)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                size = len(response.content)
            print(
                f"{path:<28} {extra.get('group_by', '-'):<20} {statistics.median(times):>10.0f}"
                f" {max(times):>10.0f} {size:>10}"
            )


async def main(cases: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedPostgres(Path(tmp) / "pg") as pg:
        url = pg.start()
        db = Database(url)
        try:
            await upgrade(db, MIGRATION_SETS)
            key = await seed(db, SecretBox(Fernet.generate_key().decode()), cases)
            await measure(db, key, runs)
        finally:
            await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.runs))
