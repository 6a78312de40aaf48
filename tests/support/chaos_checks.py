"""What the chaos run measures once the system has settled, and the table it prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from tests.support.chaos_traffic import Traffic
from tests.support.smtp_server import SmtpServer

from dunning.common.db import Database
from dunning.common.dlq import peek
from dunning.common.events.topics import ALL_TOPICS

OUTBOX_SCHEMAS = ("ingest", "retry", "notify")


@dataclass
class ChaosReport:
    webhooks: int
    traffic: Traffic
    kills: dict[str, int]
    broker_restarts: int
    settled: bool
    seconds: float
    crashes: dict[str, list[int]] = field(default_factory=dict)
    acked_not_stored: int = 0
    accepted_without_case: int = 0
    double_charges_per_attempt: int = 0
    double_charges_per_invoice: int = 0
    duplicate_messages: int = 0
    stuck_outbox: dict[str, int] = field(default_factory=dict)
    attempts_in_flight: int = 0
    deliveries_in_flight: int = 0
    dlq: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def broken(self) -> list[str]:
        """Every invariant that does not hold (empty: the run passed)."""
        checks = {
            "acknowledged webhooks not stored": self.acked_not_stored,
            "accepted webhooks without a case": self.accepted_without_case,
            "successful charges per (case, attempt) > 1": self.double_charges_per_attempt,
            "successful charges per invoice > 1": self.double_charges_per_invoice,
            "duplicate messages per (case, level, channel)": self.duplicate_messages,
            "rows stuck in an outbox": sum(self.stuck_outbox.values()),
            "webhooks never acknowledged": self.traffic.gave_up,
            "processes that died on their own": sum(len(c) for c in self.crashes.values()),
        }
        return [f"{name}: {value}" for name, value in checks.items() if value]

    def table(self) -> str:
        t = self.traffic
        rows: list[tuple[str, object, str]] = [
            ("acknowledged webhooks not stored", self.acked_not_stored, "must be 0"),
            ("accepted webhooks without a case", self.accepted_without_case, "must be 0"),
            ("successful charges per (case, attempt) > 1", self.double_charges_per_attempt, "must be 0"),
            ("successful charges per invoice > 1", self.double_charges_per_invoice, "must be 0"),
            ("duplicate messages per (case, level, channel)", self.duplicate_messages, "must be 0"),
            *((f"rows stuck in {s}.outbox", n, "must be 0") for s, n in self.stuck_outbox.items()),
            ("webhooks never acknowledged", t.gave_up, "must be 0"),
            ("processes that died on their own", sum(len(c) for c in self.crashes.values()), "must be 0"),
            ("attempts still claimed after settle", self.attempts_in_flight, ""),
            ("deliveries still sending after settle", self.deliveries_in_flight, ""),
            *((f"DLQ {topic}.dlq", n, "") for topic, n in self.dlq.items()),
            ("invoices (failed-payment webhooks)", self.webhooks, ""),
            ("webhook deliveries sent", t.sent, ""),
            ("  of which redeliveries", t.redeliveries, ""),
            ("  invoices with invoice.paid first", t.reordered, ""),
            (
                "  answered 2xx (accepted / duplicate)",
                f"{t.acknowledged} ({t.accepted} / {t.duplicates})",
                "",
            ),
            ("  re-sent after a refused connection/5xx", t.transport_retries, ""),
            *((name, n, "") for name, n in self.counts.items()),
            *((f"SIGKILL + restart: {role}", n, "") for role, n in self.kills.items()),
            ("broker stop + restart", self.broker_restarts, ""),
            ("settled within the bound", "yes" if self.settled else "NO", ""),
            ("run time (s)", f"{self.seconds:.0f}", ""),
        ]
        width = max(len(name) for name, _, _ in rows) + 2
        lines = [f"{'chaos run':{width}}{'value':>14}  invariant", "-" * (width + 30)]
        for name, value, rule in rows:
            mark = "  FAIL" if rule and value not in (0, "0") else ""
            lines.append(f"{name:{width}}{value!s:>14}  {rule}{mark}")
        return "\n".join(lines)


async def measure(
    report: ChaosReport, db: Database, fake_url: str, smtp: SmtpServer, bootstrap: str, tenant_id: str
) -> None:
    async with db.engine.connect() as conn:

        async def scalar(sql: str, **params: Any) -> int:
            return int(await conn.scalar(text(sql), params) or 0)

        stored = {
            row[0]
            for row in await conn.execute(
                text("SELECT provider_event_id FROM ingest.webhook_events WHERE tenant_id = :t"),
                {"t": tenant_id},
            )
        }
        report.acked_not_stored = len(report.traffic.acked_event_ids - stored)
        cased = {
            row[0]
            for row in await conn.execute(
                text("SELECT invoice_id FROM retry.cases WHERE tenant_id = :t"), {"t": tenant_id}
            )
        }
        report.accepted_without_case = len(report.traffic.acked_invoices - cased)
        for schema in OUTBOX_SCHEMAS:
            report.stuck_outbox[schema] = await scalar(
                f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL"
            )
        report.attempts_in_flight = await scalar(
            "SELECT count(*) FROM retry.attempts WHERE status = 'claimed'"
        )
        report.deliveries_in_flight = await scalar(
            "SELECT count(*) FROM notify.deliveries WHERE status = 'sending'"
        )
        report.counts["cases"] = len(cased)
        for status, n in await conn.execute(
            text("SELECT status, count(*) FROM retry.cases WHERE tenant_id = :t GROUP BY status ORDER BY 1"),
            {"t": tenant_id},
        ):
            report.counts[f"  cases {status}"] = int(n)
        report.counts["our charge attempts (retry.attempts, ours)"] = await scalar(
            "SELECT count(*) FROM retry.attempts WHERE source = 'dunning' AND kind = 'charge' "
            "AND status IN ('succeeded', 'failed')"
        )
        report.counts["deliveries sent (notify)"] = await scalar(
            "SELECT count(*) FROM notify.deliveries WHERE status = 'sent'"
        )
        report.counts["  of them email"] = await scalar(
            "SELECT count(*) FROM notify.deliveries WHERE status = 'sent' AND channel = 'email'"
        )
    async with httpx.AsyncClient(base_url=fake_url, timeout=60) as fake:
        charges = (await fake.get("/_fake/charges")).json()["data"]
    ours = [c for c in charges if c["idempotency_key"]]
    succeeded = [c for c in charges if c["status"] == "succeeded"]
    per_key = Counter(c["idempotency_key"] for c in succeeded if c["idempotency_key"])
    per_invoice = Counter(c["invoice"] for c in succeeded)
    report.double_charges_per_attempt = sum(n - 1 for n in per_key.values() if n > 1)
    report.double_charges_per_invoice = sum(n - 1 for n in per_invoice.values() if n > 1)
    report.counts["charges at the fake (all / by us / succeeded)"] = len(charges)
    report.counts["  by us (with an idempotency key)"] = len(ours)
    report.counts["  succeeded"] = len(succeeded)
    mails = smtp.messages
    ids = Counter(str(m.message.get("Message-ID", "")) for m in mails)
    report.duplicate_messages = sum(n - 1 for n in ids.values() if n > 1)
    report.counts["emails at the SMTP server"] = len(mails)
    for topic in ALL_TOPICS:
        report.dlq[topic] = len(await peek(bootstrap, topic, limit=10_000))
