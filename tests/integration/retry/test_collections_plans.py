"""Payment plans charged on schedule through the Stripe fake: one PaymentIntent per instalment
whatever races or dies, declines tried again then the plan defaulted (dunning resumes), the
invoice settled elsewhere stops the plan, a paid-up plan marks the invoice paid and recovers the case."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from tests.integration.retry.test_cases import TENANT, published
from tests.integration.retry.test_executor import failing_case
from tests.integration.retry.test_planning import NOW
from tests.support.stripe_fake import FakeStripe, always, decline

from dunning.common.clock import FixedClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.retry.collections import service
from dunning.retry.collections.charging import CollectionsGateway
from dunning.retry.collections.instalment_outcomes import ChargeOutcome
from dunning.retry.collections.tables import instalments, plans
from dunning.retry.collections.worker import CollectionsWorker, WorkerConfig
from dunning.retry.tables import attempts, cases

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def cgateway(stripe_server: tuple[FakeStripe, str]) -> AsyncIterator[CollectionsGateway]:
    gw = CollectionsGateway(api_base=stripe_server[1], max_wait=0.05)
    yield gw
    await gw.close()


def worker(
    db: Database, box: SecretBox, gw: CollectionsGateway, at: Any, name: str = "w1"
) -> CollectionsWorker:
    return CollectionsWorker(db, box, gw, FixedClock(at), worker_id=name, config=WorkerConfig(batch=5))


async def case_id(db: Database) -> str:
    async with db.engine.connect() as conn:
        return str(await conn.scalar(select(cases.c.id)))


async def case_status(db: Database) -> tuple[str, list[str]]:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(cases.c.status, cases.c.pause_reasons))).one()
    return row.status, list(row.pause_reasons)


async def start_plan(db: Database, count: int) -> str:
    cid = await case_id(db)
    async with db.unit_of_work() as uow:
        await service.request_payment_plan(
            uow.session,
            tenant_id=TENANT,
            case_id=cid,
            instalments=count,
            source="customer",
            actor=None,
            now=NOW,
        )
        await uow.commit()
    return cid


async def instalment_rows(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(instalments).order_by(instalments.c.number))).all())


async def plan_status(db: Database) -> str:
    async with db.engine.connect() as conn:
        return str(await conn.scalar(select(plans.c.status)))


async def test_instalments_are_charged_on_schedule_once_each_and_the_paid_plan_recovers_the_case(
    clean_db: Database, box: SecretBox, fake: FakeStripe, cgateway: CollectionsGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    cid = await start_plan(clean_db, 3)
    assert await case_status(clean_db) == ("paused", ["payment_plan"])
    rows = await instalment_rows(clean_db)
    assert [r.amount for r in rows] == [1500, 1500, 1500]  # the 4500 owed (the case's amount)
    async with clean_db.engine.connect() as conn:
        pending = await conn.scalar(select(attempts.c.id).where(attempts.c.status == "scheduled"))
    assert pending is None  # the plan holds dunning: the retry schedule is canceled

    for day in (0, 30, 60):
        at = NOW + timedelta(days=day, hours=1)
        await worker(clean_db, box, cgateway, at).run_due()
        await worker(clean_db, box, cgateway, at).run_due()  # nothing is charged twice
    charges = fake.intent_charges(dunning_case=cid)
    assert [(c.amount, c.status) for c in charges] == [(1500, "succeeded")] * 3
    assert [fake.intents[c.payment_intent].metadata["instalment"] for c in charges] == ["1", "2", "3"]
    assert [r.status for r in await instalment_rows(clean_db)] == ["paid", "paid", "paid"]
    # The third round marked the plan paid up; the invoice is marked paid at the processor next.
    await worker(clean_db, box, cgateway, NOW + timedelta(days=60, hours=2)).run_due()
    assert fake.invoice(invoice_id).status == "paid"
    assert fake.invoice(invoice_id).paid_out_of_band is True
    assert fake.charges(invoice_id) == []  # the invoice itself was never charged
    assert await plan_status(clean_db) == "completed"
    assert (await case_status(clean_db))[0] == "recovered"
    types = [e.type for e in await published(clean_db)]
    assert types.count("dunning.case.instalment_paid.v1") == 3
    assert types[-2:] == ["dunning.case.plan_completed.v1", "dunning.case.recovered.v1"]


async def test_two_workers_racing_charge_each_instalment_once(
    clean_db: Database, box: SecretBox, fake: FakeStripe, cgateway: CollectionsGateway
) -> None:
    await failing_case(clean_db, box, fake, None)
    cid = await start_plan(clean_db, 2)
    at = NOW + timedelta(hours=1)
    await asyncio.gather(*(worker(clean_db, box, cgateway, at, f"w{i}").run_due() for i in range(4)))
    assert len(fake.intent_charges(dunning_case=cid)) == 1


class _DiesAfterCharging(CollectionsWorker):
    async def _charge(self, row: Any) -> None:
        async with self._db.unit_of_work() as uow:
            from dunning.retry import repository

            case = await repository.case_row(uow.session, row["case_id"])
            plan = (await uow.session.execute(select(plans).where(plans.c.id == row["plan_id"]))).one()
        outcome: ChargeOutcome = await self._talk(row, case, plan)
        assert outcome.status == "paid"
        raise SystemExit("killed after charging, before writing it down")


async def test_a_worker_killed_after_charging_never_causes_a_second_charge(
    clean_db: Database, box: SecretBox, fake: FakeStripe, cgateway: CollectionsGateway
) -> None:
    await failing_case(clean_db, box, fake, None)
    cid = await start_plan(clean_db, 2)
    at = NOW + timedelta(hours=1)
    dying = _DiesAfterCharging(clean_db, box, cgateway, FixedClock(at), worker_id="dead")
    with pytest.raises(SystemExit):
        await dying.run_due()
    assert [r.status for r in await instalment_rows(clean_db)] == ["claimed", "scheduled"]
    assert await worker(clean_db, box, cgateway, at, "w2").run_due() == 0  # the claim is still live
    await worker(clean_db, box, cgateway, at + timedelta(minutes=11), "w2").run_due()
    # Same idempotency key: the processor replays the first PaymentIntent instead of charging again.
    assert len(fake.intent_charges(dunning_case=cid)) == 1
    assert [r.status for r in await instalment_rows(clean_db)] == ["paid", "scheduled"]


async def test_a_declined_instalment_is_tried_again_then_the_plan_defaults_and_dunning_resumes(
    clean_db: Database, box: SecretBox, fake: FakeStripe, cgateway: CollectionsGateway
) -> None:
    await failing_case(clean_db, box, fake, always(decline("insufficient_funds")))
    cid = await start_plan(clean_db, 2)
    for at in (NOW + timedelta(hours=1), NOW + timedelta(days=3, hours=1), NOW + timedelta(days=7, hours=1)):
        await worker(clean_db, box, cgateway, at).run_due()
    charges = fake.intent_charges(dunning_case=cid)
    assert [c.status for c in charges] == ["failed", "failed", "failed"]
    assert len({c.idempotency_key for c in charges}) == 3  # one key per try
    assert [r.status for r in await instalment_rows(clean_db)] == ["failed", "canceled"]
    assert await plan_status(clean_db) == "defaulted"
    assert await case_status(clean_db) == ("open", [])
    events = await published(clean_db)
    resumed = [e for e in events if e.type == "dunning.case.resumed.v1"]
    assert [e.data["cause_type"] for e in resumed] == ["collections.plan_defaulted"]
    async with clean_db.engine.connect() as conn:
        planned = await conn.scalar(select(attempts.c.id).where(attempts.c.status == "scheduled"))
    assert planned is not None  # retries go on


async def test_an_instalment_due_after_the_invoice_was_paid_elsewhere_charges_nothing(
    clean_db: Database, box: SecretBox, fake: FakeStripe, cgateway: CollectionsGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    cid = await start_plan(clean_db, 2)
    fake.invoice(invoice_id).status = "paid"  # paid by bank transfer; the webhook not here yet
    await worker(clean_db, box, cgateway, NOW + timedelta(hours=1)).run_due()
    assert fake.intent_charges(dunning_case=cid) == []
    assert await plan_status(clean_db) == "canceled"
    assert (await case_status(clean_db))[0] == "recovered"


async def test_plan_limits_are_enforced(clean_db: Database, box: SecretBox, fake: FakeStripe) -> None:
    await failing_case(clean_db, box, fake, None)
    cid = await case_id(clean_db)
    # 4500 EUR with a 1000 minimum: at most 4 instalments.
    for count, code in ((5, "plan_out_of_limits"), (1, "plan_out_of_limits")):
        async with clean_db.unit_of_work() as uow:
            with pytest.raises(service.CollectionsRefused) as refused:
                await service.request_payment_plan(
                    uow.session, tenant_id=TENANT, case_id=cid, instalments=count, source="customer",
                    actor=None, now=NOW,
                )  # fmt: skip
        assert refused.value.code == code
    async with clean_db.unit_of_work() as uow:
        view = await service.self_service_view(uow.session, tenant_id=TENANT, case_id=cid, now=NOW)
    assert view is not None
    assert [o.instalments for o in view.plan_options] == [2, 3, 4]
    assert view.amount_due == 4500
    async with clean_db.unit_of_work() as uow:
        assert (
            await service.self_service_view(uow.session, tenant_id="ten_other", case_id=cid, now=NOW) is None
        )
