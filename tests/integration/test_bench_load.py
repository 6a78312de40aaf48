"""The load benchmark's claim-time part, tiny, against the session's PostgreSQL: so that
``make bench`` cannot rot. Its figures are printed by the benchmark, never asserted here."""

from __future__ import annotations

import pytest
from bench.load_claim import WORKER, measure_claims
from bench.load_report import spread_ms
from sqlalchemy import text

from dunning.common.db import Database

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
async def test_claim_benchmark_claims_full_batches_of_due_attempts_only(clean_db: Database) -> None:
    result = await measure_claims(clean_db, rows=1000, due_now=60, claims=5)

    assert result.claimed == [result.batch] * 5
    assert len(result.seconds) == 5
    assert all(s > 0 for s in result.seconds)
    assert result.p50_ms <= result.p99_ms <= result.max_ms
    async with clean_db.engine.connect() as conn:
        scheduled, claimed, claimed_early = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'scheduled'), "
                    "count(*) FILTER (WHERE status = 'claimed' AND claimed_by = :me), "
                    "count(*) FILTER (WHERE status = 'claimed' AND due_at > now()) "
                    "FROM retry.attempts"
                ),
                {"me": WORKER},
            )
        ).one()
    # The benchmark drove the executor's real claim: due attempts only, each claim committed.
    assert (scheduled, claimed, claimed_early) == (1000 - 5 * result.batch, 5 * result.batch, 0)
    # Both statements of claim_due were explained, rolled back (nothing claimed twice above).
    assert set(result.plans) == {"reclaim expired claims", "claim due attempts"}
    assert all(any(line.startswith("Execution Time") for line in plan) for plan in result.plans.values())
    summary = result.summary()
    assert summary["claimed_total"] == 5 * result.batch
    assert set(summary["scans"]) == set(result.plans)


def test_latency_spread_is_nearest_rank_in_milliseconds() -> None:
    seconds = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms

    assert spread_ms(seconds) == {"n": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    assert spread_ms([]) == {"n": 0}
