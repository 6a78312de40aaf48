"""End-to-end latency at a fixed rate: every role (ingest, relay, retry, notify) its own
``dunning serve`` process against embedded PostgreSQL and broker, the Stripe fake and an SMTP
server; per webhook, POST → case opened (its commit) → first email at the SMTP server; and the
peak RSS of each process.

Clocks: every timestamp is ``time.monotonic()`` in this one process. The send time is taken just
before the POST. "Case opened" is when this process receives a PostgreSQL NOTIFY raised by a
trigger the benchmark adds to ``retry.cases`` (fires when ``opened_at`` is first set): PostgreSQL
delivers a NOTIFY only when the transaction commits, so this is the commit, seen from outside.
"First email" is when the SMTP server (a thread of this process) has received the whole message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from bench.load_traffic import API_KEY, TimedSmtpServer, email_of, invoice_of, peak_rss_mib, stage_invoices
from cryptography.fernet import Fernet
from tests.support.chaos_procs import DUNNING, REPO, Fleet, StripeFakeProcess

from dunning.common.db import asyncpg_dsn
from dunning.common.embedded import EmbeddedBroker, EmbeddedPostgres
from dunning.ingest.processors.stripe.signature import sign

ROLES = ("ingest", "relay", "retry", "notify")
CHANNEL = "dunning_load_case_opened"
_TRIGGER = f"""
CREATE FUNCTION public.{CHANNEL}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.opened_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.opened_at IS NULL) THEN
    PERFORM pg_notify('{CHANNEL}', NEW.invoice_id);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER {CHANNEL} AFTER INSERT OR UPDATE OF opened_at ON retry.cases
  FOR EACH ROW EXECUTE FUNCTION public.{CHANNEL}();
"""

Progress = Callable[[str], None]


@dataclass
class E2EConfig:
    work_dir: Path
    rate: float = 10.0
    duration: float = 30.0
    warmup: int = 5
    settle_timeout: float = 120.0
    poll_seconds: float | None = None  # retry/notify timer poll; None: the services' defaults


@dataclass
class E2EResult:
    rate: float
    duration: float
    sent: int = 0
    errors: int = 0
    ack: list[float] = field(default_factory=list)  # POST → 2xx, seconds
    case: list[float] = field(default_factory=list)  # POST → case opened (committed)
    mail: list[float] = field(default_factory=list)  # POST → first email received by SMTP
    rss_mib: dict[str, float] = field(default_factory=dict)  # role → peak RSS (VmHWM)
    # From the first measured send to the last case opened / last first email: whether the
    # system kept up with the rate (a backlog shows as a span well past ``duration``).
    case_span: float | None = None
    mail_span: float | None = None
    poll_seconds: float | None = None


def run_e2e(config: E2EConfig, progress: Progress) -> E2EResult:
    """Servers up, the run, every process stopped; the measured result."""
    work = config.work_dir
    (work / "logs").mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(EmbeddedPostgres(work / "postgres"))
        database_url = pg.start()
        broker = stack.enter_context(EmbeddedBroker(log_path=work / "logs" / "broker.log"))
        bootstrap = broker.start()
        smtp = TimedSmtpServer()
        stack.enter_context(smtp)
        fake = StripeFakeProcess(work / "logs" / "stripe-fake.log", seed=1)
        stack.callback(fake.stop)
        fake.wait_ready()
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DUNNING_DATA_DIR": str(work / "data"),
            "DUNNING_DATABASE_URL": database_url,
            "DUNNING_KAFKA_BOOTSTRAP": bootstrap,
            "DUNNING_SECRET_KEY": Fernet.generate_key().decode(),
            "DUNNING_STRIPE_API_BASE": fake.url,
            "DUNNING_SMTP_URL": smtp.url(),
            "DUNNING_LOG_JSON": "false",
            "DUNNING_LOG_LEVEL": "WARNING",
        }
        if config.poll_seconds is not None:
            env["DUNNING_RETRY_POLL_SECONDS"] = env["DUNNING_NOTIFY_POLL_SECONDS"] = str(config.poll_seconds)
        for name in ("DUNNING_ADMIN_TOKEN", "POD_NAME"):
            env.pop(name, None)
        progress(f"e2e: servers up (postgres, broker {bootstrap}, smtp :{smtp.port}, stripe fake)")
        _cli(env, "migrate")
        tenant = json.loads(_cli(env, "tenants", "create", "load", "--json", "--stripe-api-key", API_KEY))
        httpx.post(fake.url + "/_fake/api_keys", json={"key": API_KEY}, timeout=10).raise_for_status()
        asyncio.run(_install_trigger(database_url))
        fleet = Fleet(env, dict.fromkeys(ROLES, 1), work / "logs")
        stack.callback(fleet.stop_all)
        # Not fleet.start_all(): its 60 s wait is too short for a start on a busy two-core machine.
        for replica in fleet.replicas:
            replica.start()
        for replica in fleet.replicas:
            replica.wait_healthy(timeout=240)
        pids = {r.role: r.process.pid for r in fleet.replicas if r.process is not None}
        progress("e2e: processes up: " + ", ".join(f"{role} (pid {pid})" for role, pid in pids.items()))
        _mail_at_any_hour(fleet.of("notify")[0].url, tenant["api_key"])
        run = _Run(config, fake.url, fleet.of("ingest")[0].url, smtp, tenant, progress)
        result = asyncio.run(run.drive(database_url))
        # Read while the processes live: VmHWM is gone with the process.
        for role, pid in pids.items():
            rss = peak_rss_mib(pid)
            if rss is not None:
                result.rss_mib[role] = rss
        return result
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*DUNNING, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"dunning {' '.join(args[:2])} failed: {done.stderr}")
    return done.stdout


async def _install_trigger(database_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(_TRIGGER)
    finally:
        await conn.close()


def _mail_at_any_hour(notify_url: str, api_key: str) -> None:
    """The default policy's first level (a friendly email, day 0) as it is, sendable at any hour
    of the run: the compliance window would otherwise hold mail at night."""
    with httpx.Client(base_url=notify_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as api:
        policy = api.get("/v1/escalation-policy").json()
        policy["compliance"] = {"regime": "first_party", "window_start": "00:00", "window_end": "23:59"}
        api.put("/v1/escalation-policy", json=policy).raise_for_status()


class _Run:
    def __init__(
        self,
        config: E2EConfig,
        fake_url: str,
        ingest_url: str,
        smtp: TimedSmtpServer,
        tenant: dict[str, str],
        progress: Progress,
    ) -> None:
        self.config = config
        self.fake_url = fake_url
        self.webhook_url = f"{ingest_url}/v1/webhooks/stripe/{tenant['tenant_id']}"
        self.secret = tenant["stripe_webhook_secret"]
        self.smtp = smtp
        self.progress = progress
        self.case_at: dict[str, float] = {}  # invoice id → NOTIFY received
        self.sent_at: dict[int, float] = {}

    async def drive(self, database_url: str) -> E2EResult:
        cfg = self.config
        result = E2EResult(rate=cfg.rate, duration=cfg.duration, poll_seconds=cfg.poll_seconds)
        total = int(cfg.rate * cfg.duration)
        listener = await asyncpg.connect(asyncpg_dsn(database_url))
        await listener.add_listener(CHANNEL, self._case_opened)
        try:
            async with httpx.AsyncClient(base_url=self.fake_url, timeout=30) as fake_api:
                self.progress(f"e2e: staging {cfg.warmup + total} invoices with declining cards at the fake")
                events = await stage_invoices(fake_api, cfg.warmup + total)
            async with httpx.AsyncClient(timeout=30) as ingest:
                # Warm-up: consumers join their groups, connections open, code paths load.
                for n in range(cfg.warmup):
                    await self._send(ingest, n, events[n], result)
                cases, mails = await self._wait(range(cfg.warmup), "warm-up")
                if min(cases, mails) < cfg.warmup:
                    raise RuntimeError(
                        f"warm-up: {cases}/{cfg.warmup} cases opened, {mails} emails; the system does not "
                        f"work end to end: see {cfg.work_dir / 'logs'} (kept with --work-dir)"
                    )
                self.sent_at.clear()
                result.ack.clear()
                result.sent = result.errors = 0
                self.progress(f"e2e: {total} webhooks at {cfg.rate:g}/s for {cfg.duration:g}s")
                start = time.monotonic() + 0.1

                async def at_its_time(i: int) -> None:
                    await asyncio.sleep(max(0.0, start + i / cfg.rate - time.monotonic()))
                    await self._send(ingest, cfg.warmup + i, events[cfg.warmup + i], result)

                await asyncio.gather(*(at_its_time(i) for i in range(total)))
            measured = range(cfg.warmup, cfg.warmup + total)
            await self._wait(measured, "measured")
        finally:
            await listener.close()
        cases_at, mails_at = [], []
        for n in measured:
            sent = self.sent_at.get(n)
            if sent is None:
                continue
            if (case := self.case_at.get(invoice_of(n))) is not None:
                result.case.append(case - sent)
                cases_at.append(case)
            if (mail := self.smtp.first_at.get(email_of(n))) is not None:
                result.mail.append(mail - sent)
                mails_at.append(mail)
        result.case_span = max(cases_at) - start if cases_at else None
        result.mail_span = max(mails_at) - start if mails_at else None
        return result

    def _case_opened(self, _conn: object, _pid: int, _channel: str, invoice_id: str) -> None:
        self.case_at.setdefault(invoice_id, time.monotonic())

    async def _send(self, ingest: httpx.AsyncClient, n: int, event: bytes, result: E2EResult) -> None:
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign(event, self.secret, int(time.time())),
        }
        started = time.monotonic()
        self.sent_at[n] = started
        result.sent += 1
        try:
            response = await ingest.post(self.webhook_url, content=event, headers=headers)
        except httpx.HTTPError:
            result.errors += 1
            return
        if response.status_code >= 300:
            result.errors += 1
            return
        result.ack.append(time.monotonic() - started)

    async def _wait(self, numbers: range, what: str) -> tuple[int, int]:
        """Until every case is open and every first email arrived, or the settle timeout."""
        deadline = time.monotonic() + self.config.settle_timeout
        last_note = 0.0
        while True:
            cases = sum(invoice_of(n) in self.case_at for n in numbers)
            mails = sum(email_of(n) in self.smtp.first_at for n in numbers)
            if cases == mails == len(numbers) or time.monotonic() > deadline:
                break
            if time.monotonic() - last_note > 5:
                self.progress(f"e2e: {what}: {cases}/{len(numbers)} cases opened, {mails} first emails")
                last_note = time.monotonic()
            await asyncio.sleep(0.2)
        self.progress(f"e2e: {what}: {cases}/{len(numbers)} cases opened, {mails} first emails")
        return cases, mails
