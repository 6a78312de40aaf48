"""GET /v1/analytics/recovery: every figure against a hand computation over eight cases in three
currencies, each grouping, the window's validation, and tenant isolation."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.integration.conftest import make_tenant

from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.tenancy.service import CreatedTenant
from dunning.retry.tables import attempts, cases, timeline

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday: ISO week 2026-W45
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
WINDOW = {"from": "2026-11-02", "to": "2026-11-16"}
_ids = itertools.count(1)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_case(
    db: Database,
    *,
    tenant_id: str,
    opened_at: datetime,
    amount: int | None,
    currency: str | None,
    status: str = "open",
    recovered_at: datetime | None = None,
    decline_code: str | None = None,
    customer_id: str = "cus_1",
) -> str:
    case_id = f"case_an_{next(_ids)}"
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            cases.insert().values(
                id=case_id,
                tenant_id=tenant_id,
                invoice_id=f"in_{case_id}",
                customer_id=customer_id,
                status="recovered" if recovered_at else status,
                opened_at=opened_at,
                resolution="paid" if recovered_at else None,
                resolved_at=recovered_at,
                amount=amount,
                currency=currency,
                decline_code=decline_code,
                provider="stripe",
            )
        )
        await uow.commit()
    return case_id


async def add_attempt(
    db: Database,
    *,
    case_id: str,
    tenant_id: str,
    number: int,
    at: datetime,
    status: str = "failed",
    source: str = "dunning",
    card_brand: str | None = "visa",
    decline_code: str | None = None,
) -> None:
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            attempts.insert().values(
                id=f"att_{case_id}_{number}",
                case_id=case_id,
                tenant_id=tenant_id,
                attempt_no=number,
                kind="charge",
                source=source,
                status=status,
                due_at=at,
                card_brand=card_brand,
                reason="test",
                decline_code=decline_code,
                finished_at=at,
            )
        )
        await uow.commit()


async def add_message(
    db: Database,
    *,
    case_id: str,
    tenant_id: str,
    at: datetime,
    channel: str,
    level: int,
    type: str = "notification.sent",
) -> None:
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            timeline.insert().values(
                case_id=case_id,
                tenant_id=tenant_id,
                at=at,
                kind="message",
                type=type,
                note="test",
                data={"channel": channel, "level": level, "template": "reminder"},
            )
        )
        await uow.commit()


async def eight_cases(db: Database, tenant_id: str) -> dict[str, str]:
    """The fixture the hand computations below are written against (see each case's comment)."""
    t, ids = tenant_id, {}
    # c1: EUR 45.00, recovered by our 3rd charge after 2 days; email L1 then sms L2 before it.
    c1 = ids["c1"] = await make_case(
        db, tenant_id=t, opened_at=T0, amount=4500, currency="EUR", recovered_at=T0 + 2 * DAY,
        decline_code="card_velocity_exceeded",
    )  # fmt: skip
    await add_attempt(db, case_id=c1, tenant_id=t, number=1, at=T0, source="processor",
                      decline_code="insufficient_funds")  # fmt: skip
    await add_attempt(
        db, case_id=c1, tenant_id=t, number=2, at=T0 + DAY, decline_code="card_velocity_exceeded"
    )
    await add_attempt(db, case_id=c1, tenant_id=t, number=3, at=T0 + 2 * DAY, status="succeeded")
    await add_message(db, case_id=c1, tenant_id=t, at=T0 + HOUR, channel="email", level=1)
    await add_message(db, case_id=c1, tenant_id=t, at=T0 + DAY + 2 * HOUR, channel="sms", level=2)
    # c2: EUR 10.00, no card brand; the attempt has no decline (the case's code is used); paid in 1 h.
    o2 = T0 + DAY
    c2 = ids["c2"] = await make_case(
        db, tenant_id=t, opened_at=o2, amount=1000, currency="EUR", recovered_at=o2 + HOUR,
        decline_code="expired_card",
    )  # fmt: skip
    await add_attempt(db, case_id=c2, tenant_id=t, number=1, at=o2, source="processor", card_brand=None)
    # c3: EUR 200.00, not recovered (exhausted); one email.
    o3 = T0 + 2 * DAY
    c3 = ids["c3"] = await make_case(
        db, tenant_id=t, opened_at=o3, amount=20000, currency="EUR", status="exhausted"
    )
    await add_attempt(db, case_id=c3, tenant_id=t, number=1, at=o3, source="processor",
                      decline_code="insufficient_funds")  # fmt: skip
    await add_attempt(db, case_id=c3, tenant_id=t, number=2, at=o3 + DAY, decline_code="insufficient_funds")
    await add_message(db, case_id=c3, tenant_id=t, at=o3 + HOUR, channel="email", level=1)
    # c4: USD 9.99, paid after 6 h; email L1, email L2 before; a suppression and an sms after don't count.
    o4 = T0 + 3 * DAY
    c4 = ids["c4"] = await make_case(
        db, tenant_id=t, opened_at=o4, amount=999, currency="USD", recovered_at=o4 + 6 * HOUR
    )
    await add_attempt(db, case_id=c4, tenant_id=t, number=1, at=o4, source="processor",
                      decline_code="do_not_honor")  # fmt: skip
    await add_message(db, case_id=c4, tenant_id=t, at=o4 + HOUR, channel="email", level=1)
    await add_message(db, case_id=c4, tenant_id=t, at=o4 + 5 * HOUR, channel="email", level=2)
    await add_message(db, case_id=c4, tenant_id=t, at=o4 + 5 * HOUR, channel="sms", level=2,
                      type="notification.suppressed")  # fmt: skip
    await add_message(db, case_id=c4, tenant_id=t, at=o4 + 7 * HOUR, channel="sms", level=3)
    # c5: USD 1500.00, open (week 46), nothing else.
    o5 = T0 + 8 * DAY
    c5 = ids["c5"] = await make_case(db, tenant_id=t, opened_at=o5, amount=150000, currency="USD")
    await add_attempt(db, case_id=c5, tenant_id=t, number=1, at=o5, source="processor",
                      decline_code="insufficient_funds")  # fmt: skip
    # c6: USD 50.00, recovered by our 4th charge after 4 days; one in_app L1 before it.
    o6 = T0 + 9 * DAY
    c6 = ids["c6"] = await make_case(
        db, tenant_id=t, opened_at=o6, amount=5000, currency="USD", recovered_at=o6 + 4 * DAY
    )
    await add_attempt(db, case_id=c6, tenant_id=t, number=1, at=o6, source="processor",
                      decline_code="insufficient_funds")  # fmt: skip
    await add_attempt(db, case_id=c6, tenant_id=t, number=2, at=o6 + DAY, decline_code="insufficient_funds")
    await add_attempt(
        db, case_id=c6, tenant_id=t, number=3, at=o6 + 2 * DAY, decline_code="insufficient_funds"
    )
    await add_attempt(db, case_id=c6, tenant_id=t, number=4, at=o6 + 4 * DAY, status="succeeded")
    await add_message(db, case_id=c6, tenant_id=t, at=o6 + DAY, channel="in_app", level=1)
    # c7: EUR 30.00, written off; no attempts, no decline code.
    ids["c7"] = await make_case(
        db, tenant_id=t, opened_at=T0 + 10 * DAY, amount=3000, currency="EUR", status="written_off"
    )
    # c8: JPY 5000, paid after 30 min; a failure reported after the payment does not count.
    o8 = T0 + 11 * DAY
    c8 = ids["c8"] = await make_case(
        db, tenant_id=t, opened_at=o8, amount=5000, currency="JPY", recovered_at=o8 + timedelta(minutes=30)
    )
    await add_attempt(db, case_id=c8, tenant_id=t, number=1, at=o8, source="processor",
                      decline_code="generic_decline")  # fmt: skip
    await add_attempt(db, case_id=c8, tenant_id=t, number=2, at=o8 + HOUR, source="processor")
    # Outside [from, to): opened the day before, and exactly at `to`.
    await make_case(db, tenant_id=t, opened_at=T0 - DAY, amount=777, currency="EUR", recovered_at=T0)
    await make_case(db, tenant_id=t, opened_at=T0 + 14 * DAY, amount=777, currency="EUR")
    return ids


async def report(client: httpx.AsyncClient, key: str, **params: str) -> dict[str, Any]:
    response = await client.get("/v1/analytics/recovery", params=WINDOW | params, headers=bearer(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_key(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["key"]: g for g in body["groups"]}


async def test_the_totals_match_the_hand_computation(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    await eight_cases(clean_db, tenant.tenant_id)
    body = await report(client, tenant.api_key)
    assert body["opened_from"] == "2026-11-02T00:00:00Z"
    assert body["opened_to"] == "2026-11-16T00:00:00Z"
    [total] = body["groups"]
    assert total["key"] == "all"
    # Opened: c1..c8 (the two cases outside [from, to) excluded). Recovered: c1, c2, c4, c6, c8.
    assert (total["cases_opened"], total["cases_recovered"], total["recovery_rate"]) == (8, 5, 0.625)
    # EUR at risk 4500 + 1000 + 20000 + 3000, recovered 4500 + 1000; USD 999 + 150000 + 5000,
    # recovered 999 + 5000; JPY 5000, recovered 5000. Never added across currencies.
    assert total["amounts"] == [
        {"currency": "EUR", "at_risk": 28500, "recovered": 5500},
        {"currency": "JPY", "at_risk": 5000, "recovered": 5000},
        {"currency": "USD", "at_risk": 155999, "recovered": 5999},
    ]
    # Times to recover: 1800 (c8), 3600 (c2), 21600 (c4), 172800 (c1), 345600 (c6). Nearest rank:
    # p50 is the 3rd of 5 (cumulative 0.6 ≥ 0.5), p90 the 5th (0.8 < 0.9 ≤ 1.0).
    assert total["time_to_recover_p50_seconds"] == 21600
    assert total["time_to_recover_p90_seconds"] == 345600
    # Failed charges up to the recovery, + 1: c1 2+1, c2 1+1, c4 1+1, c6 3+1, c8 1+1 (its late report
    # excluded) = 13 over 5 recoveries.
    assert (total["attempts_before_recovery"], total["attempts_per_recovery"]) == (13, 2.6)
    # notification.sent before recovery: c1 2, c4 2 (not the suppression, not the later sms), c6 1.
    assert (total["messages_before_recovery"], total["messages_per_recovery"]) == (5, 1.0)
    # Last sent before recovery: c1 sms L2, c4 email L2, c6 in_app L1, c2 and c8 none.
    assert total["last_message_before_recovery"] == {
        "by_channel": {"email": 1, "in_app": 1, "none": 2, "sms": 1},
        "by_level": {"1": 1, "2": 2, "none": 2},
    }


def counts(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {g["key"]: (g["cases_opened"], g["cases_recovered"]) for g in body["groups"]}


async def test_each_grouping_matches_the_hand_computation(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    await eight_cases(clean_db, tenant.tenant_id)
    key = tenant.api_key

    # The first charge's decline (c1's, not its later card_velocity_exceeded); else the case's (c2).
    declines = await report(client, key, group_by="decline_code")
    assert counts(declines) == {
        "do_not_honor": (1, 1),
        "expired_card": (1, 1),
        "generic_decline": (1, 1),
        "insufficient_funds": (4, 2),  # c1, c3, c5, c6; recovered c1, c6
        "none": (1, 0),  # c7
    }
    funds = by_key(declines)["insufficient_funds"]
    assert funds["recovery_rate"] == 0.5
    assert funds["amounts"] == [
        {"currency": "EUR", "at_risk": 24500, "recovered": 4500},
        {"currency": "USD", "at_risk": 155000, "recovered": 5000},
    ]
    # Two values, 172800 and 345600: p50 is the 1st (cumulative 0.5), p90 the 2nd.
    assert (funds["time_to_recover_p50_seconds"], funds["time_to_recover_p90_seconds"]) == (172800, 345600)
    assert (funds["attempts_per_recovery"], funds["messages_per_recovery"]) == (3.5, 1.5)
    assert list(by_key(declines)) == [
        "do_not_honor",
        "expired_card",
        "generic_decline",
        "insufficient_funds",
        "none",
    ]

    numbers = await report(client, key, group_by="attempt_number")
    assert list(by_key(numbers)) == ["2", "3", "4", "none"]
    assert counts(numbers) == {"2": (3, 3), "3": (1, 1), "4": (1, 1), "none": (3, 0)}
    assert by_key(numbers)["none"]["recovery_rate"] == 0.0

    kinds = await report(client, key, group_by="payment_method_kind")
    assert counts(kinds) == {"card": (6, 4), "unknown": (2, 1)}  # unknown: c2 (no brand), c7 (no attempt)

    channels = await report(client, key, group_by="channel")
    # The last message sent (before recovery, or so far): c3 email, c4 email, c6 in_app, c1 sms.
    assert counts(channels) == {"email": (2, 1), "in_app": (1, 1), "sms": (1, 1), "none": (4, 2)}
    assert by_key(channels)["email"]["last_message_before_recovery"]["by_level"] == {"2": 1}

    segments = await report(client, key, group_by="segment")
    assert counts(segments) == {
        "EUR 10-99": (3, 2),  # c1 45.00, c2 10.00, c7 30.00
        "EUR 100-999": (1, 0),  # c3 200.00
        "JPY 1000+": (1, 1),  # c8 ¥5000
        "USD 10-99": (1, 1),  # c6 50.00
        "USD 1000+": (1, 0),  # c5 1500.00
        "USD <10": (1, 1),  # c4 9.99
    }

    weeks = await report(client, key, group_by="cohort_week")
    assert counts(weeks) == {"2026-W45": (4, 3), "2026-W46": (4, 2)}
    assert by_key(weeks)["2026-W46"]["amounts"] == [
        {"currency": "EUR", "at_risk": 3000, "recovered": 0},
        {"currency": "JPY", "at_risk": 5000, "recovered": 5000},
        {"currency": "USD", "at_risk": 155000, "recovered": 5000},
    ]


async def test_an_empty_window_has_no_groups_and_offsets_are_honoured(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    await eight_cases(clean_db, tenant.tenant_id)
    assert (await report(client, tenant.api_key, **{"from": "2025-01-01", "to": "2025-02-01"}))[
        "groups"
    ] == []
    # 2026-11-02T01:00+01:00 is T0 itself: c1 is in; to 2026-11-03T00:00+00:00 ends before c2.
    body = await report(client, tenant.api_key, **{"from": "2026-11-02T01:00:00+01:00", "to": "2026-11-03"})
    assert body["groups"][0]["cases_opened"] == 1


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"from": "2026-11-16", "to": "2026-11-02"}, "from must be before to"),
        ({"from": "2026-11-02", "to": "2026-11-02"}, "from must be before to"),
        ({"from": "2025-01-01", "to": "2026-01-03"}, "from..to may span at most 366 days"),
        ({"from": "yesterday", "to": "2026-11-02"}, "from must be an ISO 8601 date or date-time"),
        ({"from": "2026-11-02", "to": "2026-13-01"}, "to must be an ISO 8601 date or date-time"),
        ({"from": "2026-11-02", "to": "2026-11-03", "group_by": "country"}, "group_by must be one of"),
    ],
)
async def test_a_bad_window_or_grouping_is_a_400_problem(
    client: httpx.AsyncClient, tenant: CreatedTenant, params: dict[str, str], detail: str
) -> None:
    for path in ("/v1/analytics/recovery", "/v1/analytics/recovery.csv"):
        response = await client.get(path, params=params, headers=bearer(tenant.api_key))
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"].startswith(detail)


async def test_a_366_day_window_is_allowed(client: httpx.AsyncClient, tenant: CreatedTenant) -> None:
    await report(client, tenant.api_key, **{"from": "2024-01-01", "to": "2025-01-01"})


async def test_another_tenants_key_sees_none_of_the_figures(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, box: SecretBox
) -> None:
    other = await make_tenant(clean_db, box, name="Other")
    await eight_cases(clean_db, tenant.tenant_id)
    await make_case(clean_db, tenant_id=other.tenant_id, opened_at=T0, amount=100, currency="GBP")
    for group_by in ("none", "decline_code", "segment"):
        theirs = await report(client, other.api_key, group_by=group_by)
        assert [(g["cases_opened"], g["amounts"]) for g in theirs["groups"]] == [
            (1, [{"currency": "GBP", "at_risk": 100, "recovered": 0}])
        ]
    mine = await report(client, tenant.api_key)
    assert mine["groups"][0]["cases_opened"] == 8
