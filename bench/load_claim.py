"""Due-attempt claim time: the retry executor's own ``attempt_store.claim_due`` against a table of
N scheduled attempts (a few due now, the rest due over the next 30 days), timed per claim.

Used by ``bench/load.py`` (10k and 1M rows) and, tiny, by ``tests/integration/test_bench_load.py``.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from dunning.cli.system import MIGRATION_SETS
from dunning.common.db import Database
from dunning.common.embedded import EmbeddedPostgres
from dunning.common.migrations import upgrade
from dunning.retry import attempt_store
from dunning.retry.executor import ExecutorConfig

TENANT = "ten_load_claim"
WORKER = "bench-claimer"

# One open case per scheduled attempt, as in production (a case has one pending attempt at a
# time); generated in the database so a million rows take seconds, not minutes. The first
# :due_now rows fall due within the last hour, the rest over the next 30 days.
_CASES = """
INSERT INTO retry.cases (id, tenant_id, invoice_id, customer_id, status, opened_at, provider)
SELECT 'case_lc' || i, :tenant, 'in_lc' || i, 'cus_lc' || (i % 50000), 'open',
  CAST(:now AS timestamptz) - interval '3 days', 'stripe'
FROM generate_series(1, CAST(:n AS int)) AS i
"""
_ATTEMPTS = """
INSERT INTO retry.attempts (id, case_id, tenant_id, attempt_no, kind, source, status, due_at,
  method_id, card_brand, reason, idempotency_key)
SELECT 'att_lc' || i, 'case_lc' || i, :tenant, 2, 'charge', 'dunning', 'scheduled',
  CASE WHEN i <= :due_now
    THEN CAST(:now AS timestamptz) - (i % 3600) * interval '1 second'
    ELSE CAST(:now AS timestamptz) + interval '1 minute' + (i::bigint * 7919 % 2592000) * interval '1 second'
  END,
  'pm_lc' || i, (ARRAY['visa', 'mastercard'])[1 + i % 2], 'bench: planned retry',
  'case_lc' || i || ':2:pm_lc' || i
FROM generate_series(1, CAST(:n AS int)) AS i
"""


@dataclass
class ClaimResult:
    rows: int  # scheduled attempts in the table before the first claim
    due_now: int
    batch: int
    claims: int
    claimed: list[int] = field(default_factory=list)  # attempts each claim returned
    seconds: list[float] = field(default_factory=list)  # each claim, transaction and commit included
    seed_seconds: float = 0.0
    plans: dict[str, list[str]] = field(default_factory=dict)  # statement -> EXPLAIN ANALYZE lines

    @property
    def p50_ms(self) -> float:
        return round(statistics.median(self.seconds) * 1000, 2)

    @property
    def p99_ms(self) -> float:
        return round(_quantile(self.seconds, 0.99) * 1000, 2)

    @property
    def max_ms(self) -> float:
        return round(max(self.seconds) * 1000, 2)

    def scans(self) -> dict[str, str]:
        """Per statement, the scan nodes of its plan and its execution time, in one line."""
        out = {}
        for name, lines in self.plans.items():
            nodes = [
                ln.strip().removeprefix("->").strip().split(" (actual")[0]
                for ln in lines
                if "Scan" in ln and "Subquery Scan" not in ln
            ]
            took = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Execution Time")), "?")
            out[name] = f"{'; '.join(nodes)} ({took})"
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "due_now": self.due_now,
            "batch": self.batch,
            "claims": self.claims,
            "claimed_total": sum(self.claimed),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "seed_seconds": round(self.seed_seconds, 1),
            "scans": self.scans(),
            "plans": self.plans,
        }


def _quantile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def seed(db: Database, *, rows: int, due_now: int, now: datetime) -> float:
    """Empty the tenant's attempts and cases, insert ``rows`` scheduled attempts; seconds taken."""
    started = time.perf_counter()
    params = {"tenant": TENANT, "n": rows, "due_now": due_now, "now": now}
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM retry.attempts WHERE tenant_id = :t"), {"t": TENANT})
        await conn.execute(text("DELETE FROM retry.cases WHERE tenant_id = :t"), {"t": TENANT})
        await conn.execute(text(_CASES), params)
        await conn.execute(text(_ATTEMPTS), params)
    # What autovacuum would have done by the time a table this size is read: statistics and a
    # visibility map, so the planner sees the table as it is.
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE retry.cases, retry.attempts"))
    return time.perf_counter() - started


async def claim_once(db: Database, *, now: datetime, batch: int, ttl: timedelta) -> int:
    """One executor round's claim, exactly as ``AttemptExecutor.run_due`` does it."""
    async with db.unit_of_work() as uow:
        claimed = await attempt_store.claim_due(uow.session, now=now, worker=WORKER, batch=batch, ttl=ttl)
        await uow.commit()
    return len(claimed)


@contextmanager
def _captured_statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def capture(
        _conn: Connection, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        seen.append((statement, parameters))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


async def explain_claim(db: Database, *, now: datetime, batch: int, ttl: timedelta) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of the very statements ``claim_due`` sends (captured off the engine), in a
    transaction rolled back so the table is left as it was."""
    async with db.unit_of_work() as uow:
        with _captured_statements(db) as statements:
            await attempt_store.claim_due(uow.session, now=now, worker=WORKER, batch=batch, ttl=ttl)
        # Leaves the claim undone; the rows it took are claimed for real by the timed rounds.
    plans: dict[str, list[str]] = {}
    names = iter(("reclaim expired claims", "claim due attempts"))
    async with db.engine.connect() as conn:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("UPDATE"):
                continue
            transaction = await conn.begin()
            result = await conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters
            )
            plans[next(names, statement[:40])] = [str(row[0]) for row in result]
            await transaction.rollback()
    return plans


async def measure_claims(
    db: Database,
    *,
    rows: int,
    due_now: int,
    claims: int,
    batch: int | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> ClaimResult:
    """Seed ``rows`` scheduled attempts, then time ``claims`` claims of ``batch`` each.

    ``due_now`` should be at least ``claims * batch`` so that every claim finds a full batch."""
    batch = batch or ExecutorConfig().batch
    ttl = ExecutorConfig().claim_ttl
    now = datetime.now(UTC)
    result = ClaimResult(rows=rows, due_now=due_now, batch=batch, claims=claims)
    progress(f"claim: inserting {rows:,} scheduled attempts ({due_now:,} due now)")
    result.seed_seconds = await seed(db, rows=rows, due_now=due_now, now=now)
    progress(f"claim: inserted in {result.seed_seconds:.1f}s; timing {claims} claims of {batch}")
    result.plans = await explain_claim(db, now=now, batch=batch, ttl=ttl)
    for i in range(claims):
        started = time.perf_counter()
        # The seed's clock, held still: the attempts due "in a minute" stay in the future however
        # long the seed and the rounds take, so every size has exactly ``due_now`` due.
        result.claimed.append(await claim_once(db, now=now, batch=batch, ttl=ttl))
        result.seconds.append(time.perf_counter() - started)
        if (i + 1) % max(1, claims // 4) == 0:
            progress(f"claim: {i + 1}/{claims} at {rows:,} rows, last {result.seconds[-1] * 1000:.1f} ms")
    return result


def run_claims(
    work_dir: Path, sizes: list[int], *, due_now: int, claims: int, progress: Callable[[str], None]
) -> list[ClaimResult]:
    """Every size in turn on one embedded PostgreSQL of its own, migrated to head."""
    with EmbeddedPostgres(work_dir / "postgres") as pg:
        url = pg.start()

        async def all_sizes() -> list[ClaimResult]:
            db = Database(url, pool_size=2)
            try:
                await upgrade(db, MIGRATION_SETS)
                return [
                    await measure_claims(db, rows=rows, due_now=due_now, claims=claims, progress=progress)
                    for rows in sizes
                ]
            finally:
                await db.dispose()

        return asyncio.run(all_sizes())
