"""A customer who attaches or fixes a card gets their open invoices retried soon, within the policy;
a removed card is no longer charged; another tenant's customer of the same id is not touched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.integration.retry.test_cases import TENANT, deliver, payment_event, published
from tests.integration.retry.test_executor import KEY, attempt_rows, case_status, executor
from tests.integration.retry.test_planning import NOW, own_retries
from tests.support.stripe_fake import FakeStripe, always, decline

from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent
from dunning.common.tenancy.service import set_processor_key
from dunning.retry import repository
from dunning.retry.domain.policy import RetryMode, RetryPolicy
from dunning.retry.gateway import StripeGateway
from dunning.retry.policy_schema import from_domain
from dunning.retry.tables import attempts, cases, timeline

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

LATER = NOW + timedelta(hours=2)  # when the card change is handled
NEW_CARD = "pm_new"


def card_change(
    change: str, method_id: str = NEW_CARD, *, tenant_id: str = TENANT, **data: Any
) -> CloudEvent:
    """A ``payment_method.updated`` an hour after the failure (or ``card.expiring`` for that change)."""
    kind = "card.expiring" if change == "expiring" else "payment_method.updated"
    details: dict[str, Any] = {"payment_method_kind": "card", "card_brand": "visa", "card_last4": "4242"}
    details |= {"card_exp_month": 12, "card_exp_year": 2031}
    return payment_event(
        kind, minutes=60, tenant_id=tenant_id, change=change, payment_method_id=method_id, **(details | data)
    )


def failure(
    code: str, *, invoice_id: str = "in_1", method: str = "pm_old", tenant_id: str = TENANT
) -> CloudEvent:
    return payment_event(
        "payment.failed",
        invoice_id=invoice_id,
        tenant_id=tenant_id,
        decline_code=code,
        payment_method_id=method,
        card_brand="visa",
        charge_id=f"ch_{invoice_id}_{tenant_id}",
    )


async def rows_of(db: Database, invoice_id: str = "in_1", tenant_id: str = TENANT) -> list[Any]:
    query = (
        select(attempts)
        .join(cases, cases.c.id == attempts.c.case_id)
        .where(cases.c.invoice_id == invoice_id, cases.c.tenant_id == tenant_id)
        .order_by(attempts.c.attempt_no)
    )
    async with db.engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def fact_notes(db: Database, tenant_id: str = TENANT) -> list[str]:
    query = select(timeline.c.note).where(
        timeline.c.type.in_(("payment_method.updated", "card.expiring")), timeline.c.tenant_id == tenant_id
    )
    async with db.engine.connect() as conn:
        return list((await conn.execute(query.order_by(timeline.c.id))).scalars())


def scheduled(rows: list[Any]) -> list[tuple[str, str | None]]:
    return [(r.kind, r.method_id) for r in rows if r.status == "scheduled"]


async def test_a_case_waiting_for_the_customer_charges_the_card_they_attach(clean_db: Database) -> None:
    await own_retries(clean_db)
    await deliver(clean_db, failure("expired_card"), now=NOW)
    assert scheduled(await rows_of(clean_db)) == [("end_action", None)]  # waiting for the customer

    await deliver(clean_db, card_change("attached"), now=LATER)
    rows = await rows_of(clean_db)
    assert [(r.kind, r.status) for r in rows] == [
        ("charge", "failed"),
        ("end_action", "canceled"),
        ("charge", "scheduled"),
    ]
    charge = rows[-1]
    assert (charge.method_id, charge.card_brand, charge.source) == (NEW_CARD, "visa", "dunning")
    assert charge.due_at == LATER + timedelta(minutes=5)  # the policy's cascade delay
    assert charge.reason.startswith("the customer attached a new card (visa ending 4242): charging it")
    assert charge.idempotency_key == f"{charge.case_id}:3:{NEW_CARD}"
    event = (await published(clean_db))[-1]
    assert (event.type, event.data["attempt_id"]) == ("dunning.attempt.scheduled.v1", charge.id)
    assert event.data["payment_method_id"] == NEW_CARD
    [note] = await fact_notes(clean_db)
    assert note == (
        "the customer attached a new card (visa ending 4242); retrying soon: "
        f"charge at {charge.due_at:%Y-%m-%d %H:%M} UTC, replacing the planned end_action (attempt 2)"
    )


async def test_in_observe_mode_nothing_is_planned(clean_db: Database) -> None:
    await deliver(clean_db, failure("expired_card"), card_change("attached"), now=NOW)
    assert [(r.source, r.status) for r in await rows_of(clean_db)] == [("processor", "failed")]
    assert [e.type for e in await published(clean_db)] == ["dunning.case.opened.v1"]
    assert "nothing planned: the tenant's policy is observe" in (await fact_notes(clean_db))[0]


async def test_a_pending_charge_is_replaced_once_never_doubled(clean_db: Database) -> None:
    await own_retries(clean_db)
    await deliver(clean_db, failure("insufficient_funds"), now=NOW)
    payday = (await rows_of(clean_db))[-1]
    assert payday.due_at > LATER + timedelta(days=1)  # aimed at a payday days away, on the old card

    # Attached, then edited: two distinct events about the same card.
    await deliver(clean_db, card_change("attached"), card_change("updated"), now=LATER)
    rows = await rows_of(clean_db)
    assert scheduled(rows) == [("charge", NEW_CARD)]
    assert [r.status for r in rows] == ["failed", "canceled", "scheduled"]
    assert "replaced: the customer attached a new card" in rows[1].reason
    first, second = await fact_notes(clean_db)
    assert first.endswith(
        f"charge at {rows[2].due_at:%Y-%m-%d %H:%M} UTC, replacing the planned charge (attempt 2)"
    )
    assert second == (
        "the customer updated their card (visa ending 4242); "
        f"attempt 3 already charges it at {rows[2].due_at:%Y-%m-%d %H:%M} UTC"
    )
    assert [e.type for e in await published(clean_db)].count("dunning.attempt.scheduled.v1") == 2


async def test_a_charge_due_sooner_than_the_new_card_stays(clean_db: Database) -> None:
    await own_retries(clean_db, cascade_delay=timedelta(hours=6))
    await deliver(clean_db, failure("processing_error"), now=NOW)  # a transient error: hours, not days
    await deliver(clean_db, card_change("attached"), now=NOW)
    assert scheduled(await rows_of(clean_db)) == [("charge", "pm_old")]
    assert "attempt 2 is due sooner" in (await fact_notes(clean_db))[0]


async def test_with_max_attempts_used_nothing_is_planned_and_the_timeline_says_why(
    clean_db: Database,
) -> None:
    await own_retries(clean_db, max_attempts=1)
    await deliver(clean_db, failure("expired_card"), now=NOW)
    before = scheduled(await rows_of(clean_db))
    assert before == [("end_action", None)]
    await deliver(clean_db, card_change("attached"), now=NOW)
    assert scheduled(await rows_of(clean_db)) == before
    [note] = await fact_notes(clean_db)
    assert "not retried: dunning exhausted: all 1 attempts allowed by the policy are used" in note


async def test_detaching_the_card_a_charge_would_use_cancels_it_and_re_plans(clean_db: Database) -> None:
    await own_retries(clean_db)
    await deliver(clean_db, failure("expired_card"), now=NOW)
    await deliver(clean_db, card_change("attached"), now=LATER)
    await deliver(clean_db, card_change("detached"), now=LATER + timedelta(minutes=1))
    rows = await rows_of(clean_db)
    assert [(r.kind, r.status) for r in rows] == [
        ("charge", "failed"),
        ("end_action", "canceled"),
        ("charge", "canceled"),
        ("end_action", "scheduled"),  # waiting for the customer again, until the window closes
    ]
    assert "canceled: the customer removed their card (visa ending 4242)" in rows[2].reason
    assert "attempt 3 would have charged it: canceled and re-planned" in (await fact_notes(clean_db))[-1]


async def test_detaching_a_card_no_attempt_uses_changes_nothing(clean_db: Database) -> None:
    await own_retries(clean_db)
    await deliver(clean_db, failure("insufficient_funds"), now=NOW)
    before = scheduled(await rows_of(clean_db))
    await deliver(clean_db, card_change("detached", "pm_other"), now=LATER)
    assert scheduled(await rows_of(clean_db)) == before
    assert (await fact_notes(clean_db))[0].endswith("no planned attempt charges it")


async def test_both_open_invoices_of_the_customer_are_re_planned(clean_db: Database) -> None:
    await own_retries(clean_db)
    await deliver(clean_db, failure("expired_card"), failure("expired_card", invoice_id="in_2"), now=NOW)
    await deliver(clean_db, card_change("attached"), now=LATER)
    for invoice in ("in_1", "in_2"):
        assert scheduled(await rows_of(clean_db, invoice)) == [("charge", NEW_CARD)]
    assert len(await fact_notes(clean_db)) == 2


async def test_another_tenants_customer_with_the_same_id_is_untouched(clean_db: Database) -> None:
    other = "ten_other"
    await own_retries(clean_db)
    body = from_domain(RetryPolicy(mode=RetryMode.OWN_RETRIES)).model_dump(mode="json")
    async with clean_db.unit_of_work() as uow:
        await repository.put_policy(uow.session, other, body)
        await uow.commit()
    await deliver(clean_db, failure("expired_card"), failure("expired_card", tenant_id=other), now=NOW)
    await deliver(clean_db, card_change("attached"), now=LATER)
    assert scheduled(await rows_of(clean_db)) == [("charge", NEW_CARD)]
    assert scheduled(await rows_of(clean_db, tenant_id=other)) == [("end_action", None)]
    assert await fact_notes(clean_db, other) == []


async def test_an_expiring_card_is_only_noted(clean_db: Database) -> None:
    await own_retries(clean_db)
    await deliver(clean_db, failure("insufficient_funds"), now=NOW)
    before = await rows_of(clean_db)
    await deliver(clean_db, card_change("expiring", "pm_old"), now=LATER)
    assert await rows_of(clean_db) == before
    [note] = await fact_notes(clean_db)
    assert note == "the customer's card (visa ending 4242) expires after 12/2031; the retries are unchanged"


async def test_the_attached_card_is_charged_through_stripe_and_the_case_recovers(
    clean_db: Database, box: SecretBox, fake: FakeStripe, gateway: StripeGateway
) -> None:
    async with clean_db.unit_of_work() as uow:
        await uow.session.execute(
            text("INSERT INTO tenancy.tenants (id, name) VALUES (:t, 'Exec')"), {"t": TENANT}
        )
        await set_processor_key(uow.session, box, TENANT, "stripe", KEY)
        await uow.commit()
    await own_retries(clean_db)
    customer = fake.add_customer()
    old = fake.add_card(customer.id, default=True, behaviour=always(decline("expired_card")))
    invoice = fake.add_invoice(customer.id, amount=2500, currency="EUR")
    failed = payment_event(
        "payment.failed",
        invoice_id=invoice.id,
        decline_code="expired_card",
        payment_method_id=old.id,
        charge_id="ch_expired",
        customer_id=customer.id,
    )
    await deliver(clean_db, failed, now=NOW)
    new = fake.add_card(customer.id, brand="mastercard", exp=(11, 2031))
    attached = card_change(
        "attached", new.id, customer_id=customer.id, card_brand="mastercard", card_last4=new.last4
    )
    await deliver(clean_db, attached, now=LATER)

    assert await executor(clean_db, box, gateway, at=LATER + timedelta(minutes=4)).run_due() == 0
    assert await executor(clean_db, box, gateway, at=LATER + timedelta(minutes=5)).run_due() == 1
    assert [(c.payment_method, c.status) for c in fake.charges(invoice.id)] == [(new.id, "succeeded")]
    assert await case_status(clean_db) == "recovered"
    assert [(r.kind, r.status) for r in await attempt_rows(clean_db)][-1] == ("charge", "succeeded")
