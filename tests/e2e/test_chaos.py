"""The chaos run, short (issue 7; ``make chaos`` is the long one): the services as separate
processes, each role SIGKILLed and restarted once and the broker restarted once while failed-payment
webhooks arrive, redelivered and out of order; then DESIGN §4's promises must hold.

It starts its own PostgreSQL, broker, SMTP server and Stripe fake under ``tmp_path`` rather than
the session's ``infra``: it restarts the broker, which would empty every other test's topics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.chaos import ChaosConfig, run_chaos

pytestmark = pytest.mark.integration


def test_kills_and_a_broker_restart_lose_no_webhook_and_double_no_charge_or_message(tmp_path: Path) -> None:
    report = run_chaos(
        ChaosConfig(
            work_dir=tmp_path / "chaos",
            webhooks=150,
            kills_per_role=1,
            broker_restarts=1,
            kill_gap=(0.5, 1.5),
            settle_timeout=300.0,
        ),
        progress=lambda _line: None,
    )
    table = report.table()
    assert report.settled, table
    assert report.acked_not_stored == 0, table
    assert report.accepted_without_case == 0, table
    assert report.double_charges_per_attempt == 0, table
    assert report.double_charges_per_invoice == 0, table
    assert report.duplicate_messages == 0, table
    assert report.stuck_outbox == {"ingest": 0, "retry": 0, "notify": 0}, table
    assert report.broken() == [], table
    # The run did what it says: every role died once and came back, and work got done.
    assert set(report.kills) == {"ingest", "relay", "retry", "notify"}, table
    assert all(kills >= 1 for kills in report.kills.values()), table
    assert report.broker_restarts == 1, table
    assert report.traffic.acknowledged == report.traffic.sent, table
    assert report.counts["cases"] == 150, table
    assert report.counts["  succeeded"] > 0, table  # some cases were recovered by our retries
    assert report.counts["emails at the SMTP server"] > 0, table
