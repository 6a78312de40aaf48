"""The chaos run (issue 7): every role as separate processes against their own embedded
PostgreSQL and broker, the Stripe fake and an SMTP server; thousands of failed-payment webhooks
while ingest, relay, retry and notify are SIGKILLed and restarted and the broker is restarted;
then the delivery guarantees of DESIGN §4 are measured (``chaos_checks``).

Used by ``bench/chaos.py`` (``make chaos``) and, small, by ``tests/e2e/test_chaos.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import text
from tests.support.chaos_checks import OUTBOX_SCHEMAS, ChaosReport, measure
from tests.support.chaos_procs import DUNNING, REPO, Fleet, StripeFakeProcess
from tests.support.chaos_traffic import StripeTraffic
from tests.support.smtp_server import SmtpServer

from dunning.common.db import Database
from dunning.common.embedded import EmbeddedBroker, EmbeddedPostgres
from dunning.common.events.topics import ALL_TOPICS
from dunning.common.kafka import ensure_topics, topics_with_dlq

API_KEY = "sk_test_chaos_tenant_key"
ROLES = ("ingest", "relay", "retry", "notify")
PARTITIONS = 3


@dataclass
class ChaosConfig:
    work_dir: Path
    webhooks: int = 2000
    replicas: dict[str, int] = field(
        default_factory=lambda: {"ingest": 2, "relay": 1, "retry": 2, "notify": 2}
    )
    kills_per_role: int = 3
    broker_restarts: int = 1
    concurrency: int = 12
    redeliver_share: float = 0.2
    reorder_share: float = 0.1
    always_decline_share: float = 0.25
    kill_gap: tuple[float, float] = (1.0, 4.0)
    settle_timeout: float = 300.0
    seed: int = 7


Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    sys.stderr.write(f"[chaos {time.strftime('%H:%M:%S')}] {line}\n")
    sys.stderr.flush()


def run_chaos(config: ChaosConfig, progress: Progress = _stderr) -> ChaosReport:
    """The whole run, from empty servers to a measured report; leaves no process behind."""
    work = config.work_dir
    (work / "logs").mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(EmbeddedPostgres(work / "postgres"))
        database_url = pg.start()
        broker = stack.enter_context(EmbeddedBroker(log_path=work / "logs" / "broker.log"))
        bootstrap = broker.start()
        smtp = stack.enter_context(SmtpServer())
        fake = StripeFakeProcess(work / "logs" / "stripe-fake.log", config.seed)
        stack.callback(fake.stop)
        fake.wait_ready()
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DUNNING_DATA_DIR": str(work / "data"),
            "DUNNING_DATABASE_URL": database_url,
            "DUNNING_KAFKA_BOOTSTRAP": bootstrap,
            "DUNNING_SECRET_KEY": Fernet.generate_key().decode(),
            "DUNNING_KAFKA_TOPIC_PARTITIONS": str(PARTITIONS),
            "DUNNING_STRIPE_API_BASE": fake.url,
            "DUNNING_SMTP_URL": smtp.url(),
            "DUNNING_LOG_JSON": "false",
            "DUNNING_LOG_LEVEL": "WARNING",
            "DUNNING_RETRY_POLL_SECONDS": "0.2",
            "DUNNING_RETRY_CLAIM_TTL_SECONDS": "15",
            "DUNNING_NOTIFY_POLL_SECONDS": "0.2",
            "DUNNING_NOTIFY_CLAIM_TTL_SECONDS": "15",
            "DUNNING_API_RATE_PER_SECOND": "1000",
            "DUNNING_API_RATE_BURST": "1000",
        }
        for name in ("DUNNING_ADMIN_TOKEN", "POD_NAME"):
            env.pop(name, None)
        progress(f"servers up: postgres, broker {bootstrap}, smtp :{smtp.port}, stripe fake {fake.url}")
        _cli(env, "migrate")
        tenant = json.loads(_cli(env, "tenants", "create", "chaos", "--json", "--stripe-api-key", API_KEY))
        httpx.post(fake.url + "/_fake/api_keys", json={"key": API_KEY}, timeout=10).raise_for_status()
        fleet = Fleet(env, config.replicas, work / "logs")
        stack.callback(fleet.stop_all)
        fleet.start_all()
        progress("processes up: " + ", ".join(r.name for r in fleet.replicas))
        _set_policies(fleet, tenant["api_key"])
        return asyncio.run(_chaos(config, fleet, broker, smtp, fake.url, database_url, tenant, progress))
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*DUNNING, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"dunning {' '.join(args[:2])} failed: {done.stderr}")
    return done.stdout


def _set_policies(fleet: Fleet, api_key: str) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=fleet.of("retry")[0].url, headers=auth, timeout=10) as api:
        policy = api.get("/v1/retry-policy").json()
        caps = [{"limit": 50, "per_hours": 1}]
        policy |= {
            "mode": "own_retries",
            "cascade_delay_seconds": 0,
            "retry_hours": {"start": "00:00", "end": "23:59"},
            "payday_hours": {"start": "00:00", "end": "23:59"},
            "card_caps": {"visa": caps, "mastercard": caps, "other": caps},
        }
        api.put("/v1/retry-policy", json=policy).raise_for_status()
    with httpx.Client(base_url=fleet.of("notify")[0].url, headers=auth, timeout=10) as api:
        escalation = api.get("/v1/escalation-policy").json()
        # Whatever the hour of the run, mail may go out.
        escalation["compliance"] = {"regime": "first_party", "window_start": "00:00", "window_end": "23:59"}
        api.put("/v1/escalation-policy", json=escalation).raise_for_status()


async def _chaos(
    config: ChaosConfig,
    fleet: Fleet,
    broker: EmbeddedBroker,
    smtp: SmtpServer,
    fake_url: str,
    database_url: str,
    tenant: dict[str, str],
    progress: Progress,
) -> ChaosReport:
    rng = random.Random(config.seed)
    started = time.monotonic()
    db = Database(database_url, pool_size=2)
    traffic = StripeTraffic(
        fake_url,
        [r.url for r in fleet.of("ingest")],
        api_key=API_KEY,
        webhook_secret=tenant["stripe_webhook_secret"],
        rng=rng,
        redeliver_share=config.redeliver_share,
        reorder_share=config.reorder_share,
        always_decline_share=config.always_decline_share,
    )
    traffic.tenant_id = tenant["tenant_id"]
    firing_done = asyncio.Event()
    stop_warp = asyncio.Event()
    restarts = 0

    async def fire() -> None:
        numbers = iter(range(config.webhooks))

        async def worker() -> None:
            for n in numbers:
                await traffic.invoice_failure(n)

        await asyncio.gather(*(worker() for _ in range(config.concurrency)))
        await traffic.drain()
        firing_done.set()

    async def monkey() -> None:
        nonlocal restarts
        # At least kills_per_role of each role, then more at random until the traffic is done.
        plan = [role for role in ROLES for _ in range(config.kills_per_role)]
        rng.shuffle(plan)
        broker_at = {len(plan) // 2 + i for i in range(config.broker_restarts)}
        step = 0
        while step < len(plan) or not firing_done.is_set():
            role = plan[step] if step < len(plan) else rng.choice(ROLES)
            await asyncio.sleep(rng.uniform(*config.kill_gap))
            if step in broker_at:
                progress("stopping the broker (memory storage: every record is lost)")
                await asyncio.to_thread(broker.stop)
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                await asyncio.to_thread(broker.start)
                # What an operator's init job (or `dunning run`) does for a new, empty cluster.
                await ensure_topics(broker.bootstrap, topics_with_dlq(ALL_TOPICS), partitions=PARTITIONS)
                restarts += 1
                progress("broker restarted, topics created again")
            victim = rng.choice(fleet.of(role))
            await asyncio.to_thread(victim.sigkill)
            progress(f"SIGKILL {victim.name} ({traffic.traffic.sent} webhooks sent)")
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            victim.start()
            # The next kill waits until this replica is serving again: on a saturated machine a
            # start takes seconds, and a monkey faster than that kills replicas that never got
            # up (and ingest stays down for good), which tests the machine, not the system. A
            # replica that dies on its own meanwhile is counted and restarted by the fleet.
            with contextlib.suppress(RuntimeError):
                await asyncio.to_thread(victim.wait_healthy, 120.0)
            step += 1

    async def warp() -> None:
        """Fast-forward the durable timers: charge attempts and message retries scheduled for later
        are due now. Escalation levels are left to their days: the first one goes out at once, and
        running every level of 2000 cases would make the run take an hour on two cores."""
        while not stop_warp.is_set():
            with contextlib.suppress(Exception):
                async with db.engine.begin() as conn:
                    await conn.execute(
                        text(
                            "UPDATE retry.attempts SET due_at = now() "
                            "WHERE status = 'scheduled' AND due_at > now()"
                        )
                    )
                    await conn.execute(
                        text(
                            "UPDATE notify.deliveries SET next_attempt_at = now() "
                            "WHERE status = 'scheduled' AND next_attempt_at > now()"
                        )
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_warp.wait(), 1.0)

    async def report_progress() -> None:
        while not firing_done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(firing_done.wait(), 5.0)
            t = traffic.traffic
            progress(f"webhooks sent {t.sent}, acknowledged {t.acknowledged}, retried {t.transport_retries}")

    warper = asyncio.create_task(warp())
    try:
        await asyncio.gather(fire(), monkey(), report_progress())
        fleet.ensure_running()
        progress(f"traffic done in {time.monotonic() - started:.0f}s; settling")
        settled = await _settle(db, fleet, config.settle_timeout, progress)
        stop_warp.set()
        await warper
        kills = {role: sum(r.kills for r in fleet.of(role)) for role in ROLES}
        report = ChaosReport(
            webhooks=config.webhooks,
            traffic=traffic.traffic,
            kills=kills,
            broker_restarts=restarts,
            settled=settled,
            seconds=0.0,
            crashes=fleet.crashes(),
        )
        await measure(report, db, fake_url, smtp, broker.bootstrap, tenant["tenant_id"])
        report.seconds = time.monotonic() - started
        return report
    finally:
        stop_warp.set()
        await traffic.close()
        await db.dispose()


_IN_FLIGHT = " + ".join(
    [
        *(f"(SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL)" for s in OUTBOX_SCHEMAS),
        "(SELECT count(*) FROM retry.attempts WHERE status IN ('scheduled', 'claimed'))",
        "(SELECT count(*) FROM notify.deliveries WHERE status IN ('scheduled', 'sending'))",
        "(SELECT count(*) FROM notify.escalations WHERE status = 'active' AND next_due_at <= now())",
    ]
)
_PROGRESS = (
    "SELECT (SELECT count(*) FROM retry.cases), (SELECT count(*) FROM retry.attempts), "
    "(SELECT count(*) FROM notify.deliveries WHERE status = 'sent'), (SELECT count(*) FROM retry.inbox), "
    "(SELECT count(*) FROM notify.inbox)"
)


async def _settle(db: Database, fleet: Fleet, timeout: float, progress: Progress) -> bool:
    """Wait until nothing is pending and nothing moves for a few seconds, or ``timeout``."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    last: tuple[object, ...] = ()
    while time.monotonic() < deadline:
        fleet.ensure_running()  # a process that crashed is counted (Replica.crashes) and restarted
        async with db.engine.connect() as conn:
            pending = int(await conn.scalar(text(f"SELECT {_IN_FLIGHT}")) or 0)
            now = tuple((await conn.execute(text(_PROGRESS))).one())
        if pending == 0 and now == last:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 4.0:
                return True
        else:
            quiet_since = None
        if now != last:
            progress(f"settling: pending {pending}; cases, attempts, sent, inboxes {now}")
        last = now
        await asyncio.sleep(1.0)
    return False
