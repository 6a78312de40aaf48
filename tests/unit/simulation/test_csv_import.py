"""The CSV importer: a tenant's history in, every problem reported with its line number."""

from __future__ import annotations

import io

import pytest

from dunning.simulation.backtest import HISTORY, as_run, split_by_time, to_population
from dunning.simulation.csv_import import CsvImportError, parse_history, write_history
from dunning.simulation.engine import simulate
from dunning.simulation.metrics import measure
from dunning.simulation.policies import BASELINES
from dunning.simulation.population import generate
from dunning.simulation.presets import PRESETS

HEADER = "case_id,customer_id,attempted_at,outcome,amount,currency,payment_method_id,decline_code,customer_tz"
GOOD = [
    "in_1,cus_1,2025-03-04T14:30:00Z,failed,1500,usd,pm_1,insufficient_funds,America/New_York",
    "in_1,cus_1,2025-03-07T13:00:00+00:00,succeeded,1500,USD,pm_1,,America/New_York",
    "in_2,cus_2,2025-03-05T09:00:00Z,failed,2500,EUR,pm_2,stolen_card,",
]


def parse(*rows: str, header: str = HEADER) -> list[str]:
    with pytest.raises(CsvImportError) as caught:
        parse_history(io.StringIO("\n".join((header, *rows)) + "\n"))
    return caught.value.errors


def test_a_good_file_gives_cases_oldest_first() -> None:
    first, second = parse_history(io.StringIO("\n".join((HEADER, *GOOD)) + "\n"))
    assert (first.case_id, first.currency, first.customer_tz) == ("in_1", "USD", "America/New_York")
    assert [a.succeeded for a in first.attempts] == [False, True]
    assert second.customer_tz is None
    assert second.attempts[0].decline_code == "stolen_card"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "in_9,cus_9,2025-03-04 14:30,failed,100,USD,pm_9,generic_decline,",
            "line 2: attempted_at needs a UTC offset",
        ),
        (
            "in_9,cus_9,yesterday,failed,100,USD,pm_9,generic_decline,",
            "line 2: attempted_at must be an ISO 8601",
        ),
        ("in_9,cus_9,2025-03-04T14:30Z,failed,100,USD,pm_9,,", "line 2: decline_code is required"),
        (
            "in_9,cus_9,2025-03-04T14:30Z,bounced,100,USD,pm_9,x,",
            "line 2: outcome must be succeeded or failed",
        ),
        ("in_9,cus_9,2025-03-04T14:30Z,failed,12.50,USD,pm_9,x,", "line 2: amount must be a positive whole"),
        ("in_9,cus_9,2025-03-04T14:30Z,failed,100,dollars,pm_9,x,", "line 2: currency must be a 3-letter"),
        (
            "in_9,cus_9,2025-03-04T14:30Z,failed,100,USD,pm_9,x,Mars/Olympus",
            "line 2: customer_tz must be an IANA",
        ),
        ("in_9,,2025-03-04T14:30Z,failed,100,USD,pm_9,x,", "line 2: customer_id is empty"),
        ("in_9,cus_9,2025-03-04T14:30Z,failed,100,USD,pm_9,x,,extra", "line 2: more cells than columns"),
    ],
)
def test_a_bad_row_is_named_by_its_line(row: str, message: str) -> None:
    assert any(error.startswith(message) for error in parse(row)), parse(row)


def test_case_level_problems_point_at_the_offending_line() -> None:
    errors = parse(
        "in_1,cus_1,2025-03-04T14:30:00Z,failed,1500,USD,pm_1,insufficient_funds,",
        "in_1,cus_1,2025-03-05T14:30:00Z,succeeded,1500,USD,pm_1,,",
        "in_1,cus_1,2025-03-06T14:30:00Z,failed,1500,USD,pm_1,generic_decline,",
        "in_2,cus_2,2025-03-04T14:30:00Z,succeeded,900,USD,pm_2,,",
        "in_3,cus_3,2025-03-04T14:30:00Z,failed,900,USD,pm_3,x,",
        "in_3,cus_3,2025-03-05T14:30:00Z,failed,901,USD,pm_3,x,",
    )
    assert "line 4: case 'in_1' has an attempt after its success on line 3" in errors
    assert "line 5: case 'in_2' starts with a success; a case opens with a failure" in errors
    assert any(e.startswith("line 7: case 'in_3' has amount 901 here but 900 on line 6") for e in errors)


def test_header_problems_are_reported_before_any_row() -> None:
    errors = parse(*GOOD, header=HEADER.replace("currency", "curency"))
    assert errors[0] == "line 1: missing required column(s): currency"
    assert errors[1].startswith("line 1: unknown column(s): curency")


def test_every_problem_is_listed_in_the_message() -> None:
    rows = [f"in_{k},cus,2025-03-04T14:30Z,failed,-1,USD,pm,x," for k in range(30)]
    with pytest.raises(CsvImportError, match=r"30 problem\(s\)[\s\S]*and 10 more"):
        parse_history(io.StringIO("\n".join((HEADER, *rows)) + "\n"))


def test_a_simulated_history_round_trips_and_backtests_as_it_happened() -> None:
    population = generate(PRESETS["consumer-monthly"], 40, 2)
    run = simulate(population, BASELINES[1])
    text = io.StringIO()
    write_history(run.cases, text)
    imported = parse_history(io.StringIO(text.getvalue()))
    assert len(imported) == len(run.cases)
    older, newer = split_by_time(imported)
    assert len(older) + len(newer) == len(imported)
    assert max(c.opened_at for c in older) <= min(c.opened_at for c in newer)
    replay = measure(as_run(imported, to_population(imported, "csv")))
    original = measure(run)
    assert replay.policy == HISTORY
    assert (replay.recovered, replay.retries, replay.never_attempts) == (
        original.recovered,
        original.retries,
        original.never_attempts,
    )
