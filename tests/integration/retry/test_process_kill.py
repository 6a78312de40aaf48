"""A real `dunning serve retry` process SIGKILLed while its charge is in flight at Stripe: after a
restart the invoice is charged exactly once and the case is recovered."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from tests.conftest import Infra
from tests.integration.retry.test_executor import failing_case
from tests.support.stripe_fake import FakeStripe

from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.retry.tables import attempts, cases

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def serve_retry(infra: Infra, stripe_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_KAFKA_BOOTSTRAP": infra.bootstrap,
        "DUNNING_SECRET_KEY": infra.secret_key,
        "DUNNING_HTTP_PORT": "0",
        "DUNNING_STRIPE_API_BASE": stripe_url,
        "DUNNING_RETRY_POLL_SECONDS": "0.2",
        "DUNNING_RETRY_CLAIM_TTL_SECONDS": "3",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dunning.cli", "serve", "retry"], env=env, stdout=out, stderr=out
        )


async def attempt_status(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.scalar(
            select(attempts.c.status).where(attempts.c.source == "dunning", attempts.c.kind == "charge")
        )


async def wait_for(probe: object, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await probe():  # type: ignore[operator]
            await asyncio.sleep(0.1)


async def test_sigkill_mid_charge_then_restart_charges_once(
    clean_db: Database,
    box: SecretBox,
    fake: FakeStripe,
    stripe_server: tuple[FakeStripe, str],
    infra: Infra,
    tmp_path: Path,
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    async with clean_db.engine.begin() as conn:  # make the planned retry due now
        await conn.execute(
            text("UPDATE retry.attempts SET due_at = now() - interval '1 second' WHERE status = 'scheduled'")
        )
    # The charge request reaches Stripe and then takes 3 s: the process dies while it is in flight.
    fake.set_latency(fixed=3.0, path_prefix=f"/v1/invoices/{invoice_id}/pay")

    first = serve_retry(infra, stripe_server[1], tmp_path / "retry-1.log")
    try:

        async def pay_in_flight() -> bool:
            return any(r.path.endswith("/pay") for r in fake.requests("/v1/invoices/"))

        await wait_for(pay_in_flight)
        assert await attempt_status(clean_db) == "claimed"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    fake.set_latency(fixed=0.0)
    await asyncio.sleep(3.5)  # the in-flight charge completes at Stripe; no one records it

    second = serve_retry(infra, stripe_server[1], tmp_path / "retry-2.log")
    try:

        async def settled() -> bool:
            async with clean_db.engine.connect() as conn:
                return await conn.scalar(select(cases.c.status)) == "recovered"

        await wait_for(settled)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    charges = fake.charges(invoice_id)
    assert [c.status for c in charges] == ["succeeded"]  # once, however the kill fell
    assert await attempt_status(clean_db) in ("succeeded", "skipped")
