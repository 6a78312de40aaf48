"""GET /v1/cases.csv and /v1/analytics/recovery.csv: they parse back with the csv module, match
the JSON, and neutralise cells a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from tests.integration.retry.test_analytics import T0, WINDOW, bearer, eight_cases, make_case

from dunning.common.db import Database
from dunning.common.tenancy.service import CreatedTenant
from dunning.retry.csv_export import CASE_COLUMNS, REPORT_COLUMNS

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def parse(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text.endswith("\r\n")
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


@pytest.mark.parametrize("group_by", ["none", "decline_code", "attempt_number", "segment", "cohort_week"])
async def test_the_report_csv_matches_the_json(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, group_by: str
) -> None:
    await eight_cases(clean_db, tenant.tenant_id)
    params, auth = WINDOW | {"group_by": group_by}, bearer(tenant.api_key)
    body = (await client.get("/v1/analytics/recovery", params=params, headers=auth)).json()
    response = await client.get("/v1/analytics/recovery.csv", params=params, headers=auth)
    assert response.text.split("\r\n", 1)[0] == ",".join(REPORT_COLUMNS)
    rows = parse(response)
    expected = []
    for g in body["groups"]:
        preceding = g["last_message_before_recovery"]
        shared = {
            "group_by": group_by,
            "key": g["key"],
            "cases_opened": str(g["cases_opened"]),
            "cases_recovered": str(g["cases_recovered"]),
            "recovery_rate": str(g["recovery_rate"]),
            "time_to_recover_p50_seconds": str(g["time_to_recover_p50_seconds"] or ""),
            "time_to_recover_p90_seconds": str(g["time_to_recover_p90_seconds"] or ""),
            "attempts_before_recovery": str(g["attempts_before_recovery"]),
            "attempts_per_recovery": ""
            if g["attempts_per_recovery"] is None
            else str(g["attempts_per_recovery"]),
            "messages_before_recovery": str(g["messages_before_recovery"]),
            "messages_per_recovery": ""
            if g["messages_per_recovery"] is None
            else str(g["messages_per_recovery"]),
            "last_channel_before_recovery": ";".join(f"{k}={v}" for k, v in preceding["by_channel"].items()),
            "last_level_before_recovery": ";".join(f"{k}={v}" for k, v in preceding["by_level"].items()),
        }
        for amount in g["amounts"]:
            expected.append(
                shared
                | {
                    "currency": amount["currency"],
                    "amount_at_risk_minor": str(amount["at_risk"]),
                    "amount_recovered_minor": str(amount["recovered"]),
                }
            )
    assert [{k: r[k] for k in expected[0]} for r in rows] == expected
    # The decimal columns follow each currency's ISO 4217 exponent.
    decimals = {(r["key"], r["currency"]): (r["amount_at_risk"], r["amount_recovered"]) for r in rows}
    if group_by == "none":
        assert decimals == {
            ("all", "EUR"): ("285.00", "55.00"),
            ("all", "JPY"): ("5000", "5000"),
            ("all", "USD"): ("1559.99", "59.99"),
        }


async def test_the_cases_csv_lists_the_filtered_cases_newest_first(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    await eight_cases(clean_db, tenant.tenant_id)
    auth = bearer(tenant.api_key)
    response = await client.get("/v1/cases.csv", params=WINDOW, headers=auth)
    assert response.text.split("\r\n", 1)[0] == ",".join(CASE_COLUMNS)
    rows = parse(response)
    assert len(rows) == 8
    assert [r["opened_at"] for r in rows] == sorted((r["opened_at"] for r in rows), reverse=True)
    jpy = next(r for r in rows if r["currency"] == "JPY")
    assert (jpy["amount_minor"], jpy["amount"], jpy["status"]) == ("5000", "5000", "recovered")
    usd = next(r for r in rows if r["amount_minor"] == "999")
    assert (usd["currency"], usd["amount"]) == ("USD", "9.99")
    # The same cases, the same fields as the JSON list.
    listed = (await client.get("/v1/cases", params={"limit": 200}, headers=auth)).json()["data"]
    in_window = {c["id"]: c for c in listed if "2026-11-02" <= c["opened_at"][:10] < "2026-11-16"}
    assert {r["id"] for r in rows} == set(in_window)
    for row in rows:
        case = in_window[row["id"]]
        assert (row["invoice_id"], row["status"], row["currency"]) == (
            case["invoice_id"],
            case["status"],
            case["currency"],
        )
    everything = parse(await client.get("/v1/cases.csv", headers=auth))
    assert len(everything) == 10
    recovered = parse(await client.get("/v1/cases.csv", params={"status": "recovered"}, headers=auth))
    assert len(recovered) == 6
    for params in ({"status": "bogus"}, {"from": "2026-11-03", "to": "2026-11-02"}, {"from": "soon"}):
        bad = await client.get("/v1/cases.csv", params=params, headers=auth)
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"


async def test_formula_cells_are_neutralised_and_quotes_survive(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    hostile = {
        '=HYPERLINK("http://evil","x")': '\'=HYPERLINK("http://evil","x")',
        "+1+2": "'+1+2",
        "-3": "'-3",
        "@SUM(A1)": "'@SUM(A1)",
        'Acme, "Inc"\nline 2': 'Acme, "Inc"\nline 2',
    }
    for n, customer in enumerate(hostile):
        await make_case(
            clean_db, tenant_id=tenant.tenant_id, opened_at=T0, amount=100 + n, currency="EUR",
            customer_id=customer, decline_code="=cmd|' /C calc'!A0",
        )  # fmt: skip
    auth = bearer(tenant.api_key)
    rows = parse(await client.get("/v1/cases.csv", headers=auth))
    assert sorted(r["customer_id"] for r in rows) == sorted(hostile.values())
    assert {r["decline_code"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    report = await client.get(
        "/v1/analytics/recovery.csv", params=WINDOW | {"group_by": "decline_code"}, headers=auth
    )
    [row] = parse(report)
    assert row["key"] == "'=cmd|' /C calc'!A0"
    assert row["amount_at_risk_minor"] == str(sum(100 + n for n in range(len(hostile))))
