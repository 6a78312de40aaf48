"""Notify benchmark: how fast the walker and the dispatcher turn opened cases into emails.

An embedded PostgreSQL and a real SMTP server (aiosmtpd) on this machine; N cases opened
through notify's own event handler, then one walker and one dispatcher (as one replica runs
them) until every friendly email and in-app notice is sent. Printed: messages/s, and the delay
from a level coming due to its email being accepted by the SMTP server (p50/p99).

    PYTHONPATH=. .venv/bin/python bench/notify_throughput.py --cases 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import text
from tests.support.smtp_server import SmtpServer

from dunning.cli.settings import SystemSettings
from dunning.cli.system import MIGRATION_SETS
from dunning.common.clock import SystemClock
from dunning.common.crypto import SecretBox, load_or_create_key
from dunning.common.db import Database
from dunning.common.embedded import EmbeddedPostgres
from dunning.common.events.envelope import make_event
from dunning.common.events.recovery import CaseEventData, RecoveryEventType
from dunning.common.logging import configure_logging
from dunning.common.migrations import upgrade
from dunning.notify import repository
from dunning.notify.app import dispatcher as make_dispatcher
from dunning.notify.app import walker as make_walker
from dunning.notify.handlers import NotifyEventHandler
from dunning.notify.policy_schema import TENANT_DEFAULT

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TENANT = "ten_bench"


def opened(n: int, at: datetime) -> object:
    case_id = f"case_{n:06d}"
    data = CaseEventData(
        tenant_id=TENANT,
        case_id=case_id,
        invoice_id=f"in_{n:06d}",
        customer_id=f"cus_{n:06d}",
        status="open",
        note="case.opened",
        amount=4900,
        currency="USD",
        failures=1,
        hosted_invoice_url="https://pay.example.com/i/1",
        customer_email=f"customer{n}@example.com",
        customer_name=f"Customer {n}",
        opened_at=at,
        occurred_at=at,
        cause_type="payment.failed",
    )
    return make_event(
        event_id=str(uuid.uuid4()),
        source="/bench",
        type=RecoveryEventType.CASE_OPENED.cloudevents_type,
        subject=f"{TENANT}:in_{n:06d}",
        time=at,
        tenant_id=TENANT,
        data=data,
    )


async def run(cases: int, batch: int, work: Path) -> dict[str, object]:
    with EmbeddedPostgres(work / "pg") as pg, SmtpServer() as smtp:
        db = Database(pg.start())
        await upgrade(db, MIGRATION_SETS)
        key = load_or_create_key(work / "secret.key")
        settings = SystemSettings(
            data_dir=work,
            secret_key=SecretStr(key),
            smtp_url=SecretStr(smtp.url()),
            public_url="https://dunning.example.com",
            notify_worker_batch=batch,
        )
        async with db.unit_of_work() as uow:
            # The sending window is open whatever the hour of the run.
            body = TENANT_DEFAULT.model_copy(
                update={
                    "compliance": TENANT_DEFAULT.compliance.model_copy(
                        update={"window_start": "00:00", "window_end": "23:59"}
                    )
                }
            )
            await repository.save_policy(uow.session, TENANT, body)
            await uow.commit()
        handler = NotifyEventHandler(SystemClock())
        now = datetime.now(UTC)
        fed = time.perf_counter()
        for n in range(cases):
            async with db.unit_of_work() as uow:
                await handler(uow.session, opened(n, now))  # type: ignore[arg-type]
                await uow.commit()
        fed = time.perf_counter() - fed
        walker = make_walker(settings, db)
        dispatcher, close = make_dispatcher(settings, db, SecretBox(key), worker_id="bench")
        started = time.perf_counter()
        while await walker.walk_due():
            pass
        walked = time.perf_counter() - started
        sent = 0
        while True:
            handled = await dispatcher.send_due()
            sent += handled
            print(f"\r  dispatched {sent}/{2 * cases}", end="", file=sys.stderr, flush=True)
            if handled == 0:
                break
        print(file=sys.stderr)
        elapsed = time.perf_counter() - started
        await close()
        async with db.engine.connect() as conn:
            delays = [
                float(r[0])
                for r in await conn.execute(
                    text(
                        "SELECT extract(epoch FROM sent_at - due_at) FROM notify.deliveries "
                        "WHERE channel = 'email' AND status = 'sent'"
                    )
                )
            ]
        await db.dispose()
        emails = len(smtp.messages)
    delays.sort()
    return {
        "cases": cases,
        "batch": batch,
        "emails_received_by_smtp": emails,
        "messages_sent": sent,
        "seconds_feeding_cases": round(fed, 2),
        "seconds_walking": round(walked, 2),
        "seconds_walk_and_dispatch": round(elapsed, 2),
        "messages_per_second": round(sent / elapsed, 1),
        "due_to_sent_p50_s": round(statistics.median(delays), 2) if delays else None,
        "due_to_sent_p99_s": round(delays[int(len(delays) * 0.99) - 1], 2) if delays else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=20, help="DUNNING_NOTIFY_WORKER_BATCH")
    args = parser.parse_args()
    configure_logging("WARNING", json=True)  # a log line per message would be the benchmark
    with tempfile.TemporaryDirectory(prefix="notify-bench-") as tmp:
        result = asyncio.run(run(args.cases, args.batch, Path(tmp)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"notify-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for name, value in result.items():
        print(f"{name:<{width}}  {value}")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
