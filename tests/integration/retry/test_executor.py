"""Due attempts run against the Stripe fake: charged once per attempt whatever dies when, never
charged when the invoice is already settled, declines plan the next try."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.integration.retry.test_cases import TENANT, deliver, payment_event, published
from tests.integration.retry.test_planning import NOW, own_retries
from tests.support.stripe_fake import FakeStripe, always, decline
from tests.support.stripe_fake.outcomes import CardBehaviour

from dunning.common.clock import FixedClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.tenancy.service import set_processor_key
from dunning.retry.executor import AttemptExecutor, ExecutorConfig, Outcome
from dunning.retry.gateway import StripeGateway
from dunning.retry.tables import attempts, cases

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

KEY = "sk_test_executor_" + "x" * 12
LATER = NOW + timedelta(days=1)  # the first planned attempt is due (a transient error: hours)


async def failing_case(
    db: Database, box: SecretBox, fake: FakeStripe, behaviour: CardBehaviour | None
) -> str:
    """A tenant with a Stripe key, an open invoice at the fake, and the case its failure opened."""
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            text("INSERT INTO tenancy.tenants (id, name) VALUES (:t, 'Exec')"), {"t": TENANT}
        )
        await set_processor_key(uow.session, box, TENANT, "stripe", KEY)
        await uow.commit()
    await own_retries(db)
    customer = fake.add_customer()
    card = fake.add_card(customer.id, behaviour=behaviour)
    invoice = fake.add_invoice(customer.id, amount=2500, currency="EUR")
    failed = payment_event(
        "payment.failed",
        invoice_id=invoice.id,
        decline_code="processing_error",
        payment_method_id=card.id,
        charge_id="ch_first",
    )
    await deliver(db, failed, now=NOW)
    return invoice.id


def executor(
    db: Database, box: SecretBox, gateway: StripeGateway, *, worker: str = "w1", at: Any = LATER
) -> AttemptExecutor:
    return AttemptExecutor(db, box, gateway, FixedClock(at), worker_id=worker, config=ExecutorConfig(batch=5))


async def attempt_rows(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(attempts).order_by(attempts.c.attempt_no))).all())


async def case_status(db: Database) -> str:
    async with db.engine.connect() as conn:
        return str(await conn.scalar(select(cases.c.status)))


async def test_a_due_attempt_charges_once_and_recovers_the_case(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    assert await executor(clean_db, box, gateway).run_due() == 1
    assert [c.status for c in fake.charges(invoice_id)] == ["succeeded"]
    assert [(r.source, r.status) for r in await attempt_rows(clean_db)] == [
        ("processor", "failed"),
        ("dunning", "succeeded"),
    ]
    assert await case_status(clean_db) == "recovered"
    types = [e.type for e in await published(clean_db)]
    assert types[-2:] == ["dunning.attempt.succeeded.v1", "dunning.case.recovered.v1"]
    assert await executor(clean_db, box, gateway).run_due() == 0  # nothing left to do


async def test_a_decline_is_recorded_and_the_next_attempt_planned(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, always(decline("do_not_honor")))
    await executor(clean_db, box, gateway).run_due()
    rows = await attempt_rows(clean_db)
    assert [(r.source, r.status) for r in rows] == [
        ("processor", "failed"),
        ("dunning", "failed"),
        ("dunning", "scheduled"),
    ]
    assert rows[1].decline_code == "do_not_honor"
    assert rows[2].due_at > LATER
    assert [c.status for c in fake.charges(invoice_id)] == ["failed"]
    assert await case_status(clean_db) == "open"
    assert "dunning.attempt.failed.v1" in [e.type for e in await published(clean_db)]


async def test_an_invoice_paid_meanwhile_is_not_charged(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    fake.invoice(invoice_id).status = "paid"  # paid out of band, and the webhook not here yet
    await executor(clean_db, box, gateway).run_due()
    assert fake.charges(invoice_id) == []
    assert (await attempt_rows(clean_db))[-1].status == "skipped"
    assert await case_status(clean_db) == "recovered"


class _DiesAfterCharging(AttemptExecutor):
    """Charges, then dies before writing anything down (a SIGKILL at the worst moment)."""

    async def _record(self, attempt: Any, outcome: Outcome) -> None:
        del attempt, outcome
        raise SystemExit("killed")


async def test_a_replica_killed_after_charging_never_causes_a_second_charge(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    dying = _DiesAfterCharging(
        clean_db, box, gateway, FixedClock(LATER), worker_id="dead", config=ExecutorConfig()
    )
    with pytest.raises(SystemExit):
        await dying.run_due()
    assert [c.status for c in fake.charges(invoice_id)] == ["succeeded"]
    assert (await attempt_rows(clean_db))[-1].status == "claimed"
    # Before the claim expires, nobody touches it; after, another replica runs it again.
    assert await executor(clean_db, box, gateway, worker="w2").run_due() == 0
    assert (
        await executor(clean_db, box, gateway, worker="w2", at=LATER + timedelta(minutes=11)).run_due() == 1
    )
    # The re-run re-reads the invoice, finds it paid and charges nothing; had it still looked
    # open, the same idempotency key would have replayed the first answer (test_gateway.py).
    assert len(fake.charges(invoice_id)) == 1
    assert await case_status(clean_db) == "recovered"


async def test_two_replicas_claiming_at_once_run_each_attempt_once(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    import asyncio

    invoice_id = await failing_case(clean_db, box, fake, None)
    ran = await asyncio.gather(
        *(executor(clean_db, box, gateway, worker=f"w{i}").run_due() for i in range(4))
    )
    assert sorted(ran) == [0, 0, 0, 1]
    assert len(fake.charges(invoice_id)) == 1


async def test_without_a_stripe_key_nothing_is_charged_and_the_timeline_says_why(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    async with clean_db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM tenancy.processor_credentials"))
    await executor(clean_db, box, gateway).run_due()
    assert fake.charges(invoice_id) == []
    rows = await attempt_rows(clean_db)
    # Nothing more is planned: a new failure or "retry now" plans again once a key is set.
    assert rows[-1].status == "skipped"
    assert [r.status for r in rows].count("scheduled") == 0
    async with clean_db.engine.connect() as conn:
        notes = (await conn.execute(text("SELECT note FROM retry.case_timeline ORDER BY id"))).scalars().all()
    assert (
        notes[-1] == "attempt 2: not run: the tenant has no Stripe API key (dunning tenants set-stripe-key)"
    )


async def test_an_unavailable_processor_puts_the_attempt_back_for_later(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    fake.inject_faults("unavailable", count=None, path_prefix="/v1/invoices")
    await executor(clean_db, box, gateway).run_due()
    attempt = (await attempt_rows(clean_db))[-1]
    assert attempt.status == "scheduled"
    assert attempt.due_at == LATER + timedelta(minutes=5)
    async with clean_db.engine.connect() as conn:
        notes = (await conn.execute(text("SELECT note FROM retry.case_timeline ORDER BY id"))).scalars().all()
    assert "processor unavailable" in notes[-1]  # on the timeline; the scheduler's reason stays as it was
    fake.clear_faults()
    assert await executor(clean_db, box, gateway, at=LATER + timedelta(minutes=6)).run_due() == 1
    assert [c.status for c in fake.charges(invoice_id)] == ["succeeded"]


async def test_a_tenant_that_switched_to_observe_is_not_charged(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    async with clean_db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM retry.policies"))  # back to the default: observe
    await executor(clean_db, box, gateway).run_due()
    assert fake.charges(invoice_id) == []
    assert (await attempt_rows(clean_db))[-1].status == "canceled"


async def test_a_revoked_key_is_refused_not_counted_as_a_decline(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    invoice_id = await failing_case(clean_db, box, fake, None)
    fake.add_api_key("sk_test_someone_else_entirely")  # from now on only that key works: ours is revoked
    await executor(clean_db, box, gateway).run_due()
    rows = await attempt_rows(clean_db)
    assert [r.status for r in rows] == ["failed", "refused"]  # and nothing more planned
    assert fake.charges(invoice_id) == []
    async with clean_db.engine.connect() as conn:
        assert (
            await conn.scalar(select(cases.c.failures)) == 1
        )  # the processor's one; a refusal is no decline


async def test_a_card_that_cannot_be_charged_again_cascades_to_another_stored_card(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    async with clean_db.unit_of_work() as uow:
        await uow.session.execute(
            text("INSERT INTO tenancy.tenants (id, name) VALUES (:t, 'Exec')"), {"t": TENANT}
        )
        await set_processor_key(uow.session, box, TENANT, "stripe", KEY)
        await uow.commit()
    await own_retries(clean_db, allow_alternate_methods=True, cascade_delay=timedelta(0))
    customer = fake.add_customer()
    expired = fake.add_card(
        customer.id, brand="mastercard", default=True, behaviour=always(decline("expired_card"))
    )
    spare = fake.add_card(customer.id, brand="visa", exp=(12, 2031))
    invoice = fake.add_invoice(customer.id, amount=2500, currency="EUR")
    failed = payment_event(
        "payment.failed",
        invoice_id=invoice.id,
        decline_code="expired_card",
        payment_method_id=expired.id,
        charge_id="ch_expired",
        customer_id=customer.id,
    )
    await deliver(clean_db, failed, now=NOW)
    # The scheduler cannot go on with what it knows: it asks for the customer's stored methods.
    assert [(r.kind, r.status) for r in await attempt_rows(clean_db)][-1] == ("methods_lookup", "scheduled")

    worker = executor(clean_db, box, gateway)
    await worker.run_due()  # the lookup: finds both cards, plans the spare one at once
    planned = (await attempt_rows(clean_db))[-1]
    assert (planned.kind, planned.status, planned.method_id) == ("charge", "scheduled", spare.id)
    assert "cascading to the customer's" in planned.reason
    await worker.run_due()  # the charge
    assert [(c.payment_method, c.status) for c in fake.charges(invoice.id)] == [(spare.id, "succeeded")]
    assert await case_status(clean_db) == "recovered"
