"""One customer's invoices on one card: the card network caps hold across their cases (planning
counts the others' planned charges; the executor checks again before charging), and a card
declined as lost or stolen in one case is charged by none."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from tests.integration.retry.test_cases import T0, TENANT, deliver, payment_event
from tests.integration.retry.test_executor import KEY, executor
from tests.integration.retry.test_method_changes import card_change, failure, rows_of
from tests.integration.retry.test_planning import NOW, own_retries
from tests.support.stripe_fake import FakeStripe, always, decline

from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.tenancy.service import set_processor_key
from dunning.retry.domain.policy import CardNetworkCaps, NetworkCap
from dunning.retry.gateway import StripeGateway
from dunning.retry.tables import attempts, cases, timeline

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

DAY = timedelta(hours=24)
CAP = NetworkCap(3, DAY)  # small, so that two cases reach it within a day


async def two_invoices_on_one_card(
    db: Database, box: SecretBox, fake: FakeStripe, **policy: Any
) -> tuple[str, list[str]]:
    """Two open invoices of one customer whose Mastercard keeps failing (an issuer outage): both
    failed at T0 and are planned by our scheduler; the card's id and the invoice ids."""
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            text("INSERT INTO tenancy.tenants (id, name) VALUES (:t, 'Cards')"), {"t": TENANT}
        )
        await set_processor_key(uow.session, box, TENANT, "stripe", KEY)
        await uow.commit()
    await own_retries(db, card_caps=CardNetworkCaps(mastercard=(CAP,)), **policy)
    customer = fake.add_customer()
    card = fake.add_card(customer.id, brand="mastercard", behaviour=always(decline("processing_error")))
    invoices = [fake.add_invoice(customer.id, amount=2500, currency="EUR").id for _ in range(2)]
    for number, invoice_id in enumerate(invoices):
        failed = payment_event(
            "payment.failed",
            invoice_id=invoice_id,
            decline_code="processing_error",
            payment_method_id=card.id,
            card_brand="mastercard",
            charge_id=f"ch_first_{number}",
            customer_id=customer.id,
        )
        await deliver(db, failed, now=NOW)
    return card.id, invoices


def fullest_day(times: list[datetime]) -> int:
    return max(sum(1 for t in times if end - DAY < t <= end) for end in times)


async def scheduled_charges(db: Database) -> list[Any]:
    query = select(attempts).where(attempts.c.status == "scheduled", attempts.c.kind == "charge")
    async with db.engine.connect() as conn:
        return list((await conn.execute(query.order_by(attempts.c.due_at))).all())


async def timeline_notes(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(timeline.c.note).order_by(timeline.c.id))).scalars())


async def test_two_cases_on_one_card_never_charge_it_over_the_cap(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    card_id, _ = await two_invoices_on_one_card(clean_db, box, fake)
    first, second = await scheduled_charges(clean_db)
    # The first case retries 2 h after the failure; the second may not join it within the day.
    assert first.due_at == T0 + timedelta(hours=2)
    assert second.due_at >= T0 + DAY
    assert "counting planned ones" in second.reason or "card cap reached" in second.reason
    # Run the executors hour by hour for four days; note when the fake charged the card.
    charged = [T0, T0]  # the two failures the processor reported
    clock = NOW
    while clock < NOW + timedelta(days=4):
        clock += timedelta(hours=1)
        while await executor(clean_db, box, gateway, at=clock).run_due():
            pass
        made = len([c for c in fake.charges() if c.payment_method == card_id])
        charged += [clock] * (made - (len(charged) - 2))
    assert len(charged) >= 2 + 4  # both cases kept retrying...
    assert fullest_day(charged) <= CAP.limit  # ...and the card never saw more than 3 in 24 h


async def test_the_executor_does_not_charge_past_the_cap_when_plans_raced(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    card_id, _ = await two_invoices_on_one_card(clean_db, box, fake)
    first, second = await scheduled_charges(clean_db)
    # Planned at the same moment on two partitions, neither seeing the other: same slot.
    async with clean_db.engine.begin() as conn:
        await conn.execute(update(attempts).where(attempts.c.id == second.id).values(due_at=first.due_at))
    await executor(clean_db, box, gateway, at=first.due_at).run_due()
    assert len([c for c in fake.charges() if c.payment_method == card_id]) == 1  # 2 failures + 1 = cap
    async with clean_db.engine.connect() as conn:
        held = (
            await conn.execute(
                select(attempts).where(attempts.c.status == "scheduled", attempts.c.kind == "charge")
            )
        ).all()
    moved = [r for r in held if "not charged: mastercard card cap reached" in r.reason]
    assert len(moved) == 1
    assert moved[0].due_at == T0 + DAY  # when the two failures leave the 24 hours
    assert any("not charged: mastercard card cap reached" in n for n in await timeline_notes(clean_db))


async def test_a_charge_the_cap_pushes_past_the_window_is_planned_afresh(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    card_id, _ = await two_invoices_on_one_card(clean_db, box, fake, window_days=1)
    first, *rest = await scheduled_charges(clean_db)
    # The second case found no slot before its window closes: it waits for the end.
    assert rest == []
    async with clean_db.engine.begin() as conn:
        second = await conn.scalar(
            select(attempts.c.case_id).where(
                attempts.c.kind == "end_action", attempts.c.case_id != first.case_id
            )
        )
        # A racing plan charged it at the same slot anyway (its end action replaced).
        ended = (attempts.c.case_id == second) & (attempts.c.kind == "end_action")
        await conn.execute(update(attempts).where(ended).values(status="canceled"))
        await conn.execute(
            attempts.insert().values(
                id="att_raced",
                case_id=second,
                tenant_id=TENANT,
                attempt_no=9,
                kind="charge",
                source="dunning",
                status="scheduled",
                # A second earlier, so the executor reaches it first: the order of two attempts due
                # at the very same instant is the database's to choose, and the test must not be.
                due_at=first.due_at - timedelta(seconds=1),
                method_id=card_id,
                card_brand="mastercard",
                reason="raced",
                idempotency_key="raced:9",
            )
        )
    await executor(clean_db, box, gateway, at=first.due_at).run_due()
    assert len([c for c in fake.charges() if c.payment_method == card_id]) == 1
    async with clean_db.engine.connect() as conn:
        rows = (await conn.execute(select(attempts).where(attempts.c.case_id == second))).all()
    raced = next(r for r in rows if r.id == "att_raced")
    assert raced.status == "canceled"
    assert "too late for this case" in raced.reason
    # Asked again, the scheduler finds nothing before the window closes: the end of dunning.
    assert [(r.kind, r.status) for r in rows if r.status == "scheduled"] == [("end_action", "scheduled")]


# -- a `never` decline in another case --------------------------------------------------------------


async def test_a_card_stolen_in_one_case_is_not_planned_by_another(clean_db: Database) -> None:
    await own_retries(clean_db)
    await deliver(clean_db, failure("stolen_card", invoice_id="in_a", method="pm_1"), now=NOW)
    await deliver(clean_db, failure("insufficient_funds", invoice_id="in_b", method="pm_1"), now=NOW)
    b = await rows_of(clean_db, "in_b")
    assert [(r.kind, r.status) for r in b] == [("charge", "failed"), ("end_action", "scheduled")]
    assert "declined for good (lost, stolen, fraud or revoked) in another case" in b[-1].reason
    # Another card of another customer with the same decline is retried as usual.
    await deliver(clean_db, failure("insufficient_funds", invoice_id="in_c", method="pm_2"), now=NOW)
    c = await rows_of(clean_db, "in_c")
    assert [(r.kind, r.method_id) for r in c if r.status == "scheduled"] == [("charge", "pm_2")]


async def test_a_card_change_older_than_a_decline_in_another_case_charges_nothing(
    clean_db: Database,
) -> None:
    await own_retries(clean_db)
    await deliver(clean_db, failure("expired_card", invoice_id="in_b", method="pm_1"), now=NOW)
    stolen = payment_event(
        "payment.failed",
        invoice_id="in_a",
        minutes=90,
        decline_code="stolen_card",
        payment_method_id="pm_1",
        card_brand="visa",
        charge_id="ch_stolen",
    )
    await deliver(clean_db, stolen, now=NOW)
    # The customer's edit of pm_1 (at T0 + 60 min) arrives late, after the card was reported stolen.
    await deliver(clean_db, card_change("updated", "pm_1"), now=NOW + timedelta(hours=1))
    b = await rows_of(clean_db, "in_b")
    assert ("charge", "pm_1") not in [(r.kind, r.method_id) for r in b if r.status == "scheduled"]
    async with clean_db.engine.connect() as conn:
        notes = (
            (
                await conn.execute(
                    select(timeline.c.note)
                    .join(cases, cases.c.id == timeline.c.case_id)
                    .where(cases.c.invoice_id == "in_b", timeline.c.type == "payment_method.updated")
                )
            )
            .scalars()
            .all()
        )
    assert notes == [
        "the customer updated their card (visa ending 4242); not retried: another case's charge on it "
        "was declined for good after that change"
    ]


async def test_a_charge_planned_before_the_card_was_reported_stolen_elsewhere_is_not_made(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    card_id, invoices = await two_invoices_on_one_card(clean_db, box, fake)
    _, second = await scheduled_charges(clean_db)
    async with clean_db.engine.begin() as conn:
        # Both plans predate what follows (attempt rows are stamped with the database's clock).
        await conn.execute(update(attempts).values(created_at=T0 - timedelta(hours=1)))
    stolen = payment_event(
        "payment.failed",
        invoice_id=invoices[0],
        minutes=30,
        decline_code="stolen_card",
        payment_method_id=card_id,
        card_brand="mastercard",
        charge_id="ch_stolen",
    )
    await deliver(clean_db, stolen, now=NOW)
    charged_before = len([c for c in fake.charges() if c.payment_method == card_id])
    await executor(clean_db, box, gateway, at=second.due_at + timedelta(minutes=1)).run_due()
    assert len([c for c in fake.charges() if c.payment_method == card_id]) == charged_before
    async with clean_db.engine.connect() as conn:
        row = (await conn.execute(select(attempts).where(attempts.c.id == second.id))).one()
    assert row.status == "canceled"
    assert "declined as never-retry" in " ".join(await timeline_notes(clean_db))
