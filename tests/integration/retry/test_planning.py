"""A failed payment in own_retries mode gets a next attempt, planned by the domain scheduler,
with its reason; reports of the same failed charge count once; recovery cancels what is pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from tests.integration.retry.test_cases import T0, TENANT, deliver, payment_event, published

from dunning.common.db import Database
from dunning.retry import attempt_store, repository
from dunning.retry.domain.learning import SlotFeatures
from dunning.retry.domain.policy import RetryMode, RetryPolicy
from dunning.retry.policy_schema import from_domain
from dunning.retry.tables import attempts, cases

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday, 10:00 UTC


async def own_retries(db: Database, **changes: Any) -> None:
    body = from_domain(RetryPolicy(mode=RetryMode.OWN_RETRIES, **changes)).model_dump(mode="json")
    async with db.unit_of_work() as uow:
        await repository.put_policy(uow.session, TENANT, body)
        await uow.commit()


async def rows(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(attempts).order_by(attempts.c.attempt_no))).all())


async def test_a_new_tenant_observes_so_nothing_is_planned(clean_db: Database) -> None:
    await deliver(clean_db, payment_event("payment.failed", decline_code="insufficient_funds"), now=NOW)
    assert [(r.source, r.status) for r in await rows(clean_db)] == [("processor", "failed")]
    assert [e.type for e in await published(clean_db)] == ["dunning.case.opened.v1"]


async def test_own_retries_plans_the_next_attempt_with_its_reason(clean_db: Database) -> None:
    await own_retries(clean_db)
    failed = payment_event(
        "payment.failed",
        decline_code="insufficient_funds",
        failure_code="card_declined",
        payment_method_id="pm_1",
        card_brand="visa",
        charge_id="ch_1",
    )
    await deliver(clean_db, failed, now=NOW)
    first, planned = await rows(clean_db)
    assert (first.source, first.status, first.decline_code, first.charge_ref) == (
        "processor",
        "failed",
        "insufficient_funds",
        "ch_1",
    )
    assert (planned.source, planned.status, planned.kind, planned.attempt_no) == (
        "dunning",
        "scheduled",
        "charge",
        2,
    )
    assert planned.due_at > NOW
    assert planned.method_id == "pm_1"
    assert "payday" in planned.reason  # insufficient funds aims at a likely payday
    assert planned.idempotency_key == f"{planned.case_id}:2:pm_1"
    events = await published(clean_db)
    assert [e.type for e in events] == ["dunning.case.opened.v1", "dunning.attempt.scheduled.v1"]
    assert events[1].data["reason"] == planned.reason
    assert datetime.fromisoformat(events[1].data["due_at"]) == planned.due_at


async def test_the_same_failed_charge_reported_three_times_counts_once(clean_db: Database) -> None:
    await own_retries(clean_db)
    reports = [
        payment_event("payment.failed", minutes=m, charge_id="ch_same", decline_code="do_not_honor")
        for m in (0, 1, 2)
    ]
    await deliver(clean_db, *reports, now=NOW)
    async with clean_db.engine.connect() as conn:
        case = (await conn.execute(select(cases))).one()
    assert case.failures == 1
    assert [(r.source, r.status) for r in await rows(clean_db)] == [
        ("processor", "failed"),
        ("dunning", "scheduled"),
    ]


async def test_payment_cancels_the_planned_attempt(clean_db: Database) -> None:
    await own_retries(clean_db)
    await deliver(
        clean_db,
        payment_event("payment.failed", charge_id="ch_a", decline_code="processing_error"),
        payment_event("invoice.paid", minutes=30),
        now=NOW,
    )
    statuses = [(r.source, r.status) for r in await rows(clean_db)]
    assert statuses == [("processor", "failed"), ("dunning", "canceled")]


async def test_a_never_decline_with_no_alternate_schedules_only_the_end_of_dunning(
    clean_db: Database,
) -> None:
    await own_retries(clean_db)
    await deliver(
        clean_db, payment_event("payment.failed", charge_id="ch_s", decline_code="stolen_card"), now=NOW
    )
    planned = (await rows(clean_db))[-1]
    assert (planned.kind, planned.status) == ("end_action", "scheduled")
    assert planned.due_at == T0 + timedelta(
        days=21
    )  # the window closes; the customer may add a card until then
    assert "end action: leave_past_due" in planned.reason


async def test_the_tenants_own_outcomes_feed_the_learner(clean_db: Database) -> None:
    """Our charges on the 1st succeeded, on the 15th failed: the learner reads exactly that,
    with the decline each charge was retrying (the previous attempt's)."""
    async with clean_db.engine.begin() as conn:
        for n in range(12):
            case_id = f"case_learn_{n}"
            await conn.execute(
                cases.insert().values(
                    id=case_id, tenant_id=TENANT, invoice_id=f"in_l{n}", provider="stripe", status="open"
                )
            )
            day = 1 if n % 2 == 0 else 15
            for number, (source, status, decline) in enumerate(
                [
                    ("processor", "failed", "insufficient_funds"),
                    ("dunning", "succeeded" if day == 1 else "failed", None),
                ],
                start=1,
            ):
                await conn.execute(
                    attempts.insert().values(
                        id=f"att_l{n}_{number}",
                        case_id=case_id,
                        tenant_id=TENANT,
                        attempt_no=number,
                        kind="charge",
                        source=source,
                        status=status,
                        due_at=datetime(2026, 10 if number == 2 else 9, day, 9, tzinfo=UTC),
                        reason="x",
                        decline_code=decline,
                    )
                )
    async with clean_db.unit_of_work() as uow:
        stats = await attempt_store.learned_stats(uow.session, TENANT, NOW)
    assert (stats.attempts, stats.successes) == (12, 6)  # only our charges count, not the processor's
    first = SlotFeatures(
        day_of_month=1, weekday=3, hour=9, decline_code="insufficient_funds", attempt_number=2
    )
    fifteenth = SlotFeatures(
        day_of_month=15, weekday=3, hour=9, decline_code="insufficient_funds", attempt_number=2
    )
    assert stats.success_probability(first) > stats.success_probability(fifteenth)


async def test_a_tokyo_customer_is_retried_on_a_tokyo_payday_morning(clean_db: Database) -> None:
    await own_retries(clean_db)
    failed = payment_event(
        "payment.failed",
        decline_code="insufficient_funds",
        payment_method_id="pm_jp",
        charge_id="ch_jp",
        customer_country="JP",
        currency="JPY",
        amount=5000,
        amount_due=5000,
    )
    await deliver(clean_db, failed, now=NOW)
    planned = (await rows(clean_db))[-1]
    local = planned.due_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert 8 <= local.hour < 11  # payday hours, the customer's morning
    assert "time zone unknown" not in planned.reason
    assert "payday" in planned.reason
