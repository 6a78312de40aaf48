"""`dunning simulate` end to end on a small population: the table, the HTML report, the charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dunning.cli.simulate import simulate
from dunning.simulation.csv_import import write_history
from dunning.simulation.engine import simulate as run_policy
from dunning.simulation.lineup import OURS, OURS_LEARNED, OURS_LEARNED_LOCAL, OURS_ONE_METHOD
from dunning.simulation.policies import BASELINES
from dunning.simulation.population import generate
from dunning.simulation.presets import PRESETS

CHARTS = ("recovery_curves.png", "recovery_by_code.png", "attempts_histogram.png")


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(simulate)
    return app


def test_the_report_has_every_policy_with_its_figures(tmp_path: Path) -> None:
    simulate(
        preset="mixed-global",
        customers=40,
        seed=3,
        csv=None,
        learn_from="consumer-monthly/9",
        learn=True,
        out=tmp_path,
    )
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    names = [p["policy"] for p in results["policies"]]
    assert names == [*(b.name for b in BASELINES), OURS, OURS_ONE_METHOD, OURS_LEARNED, OURS_LEARNED_LOCAL]
    assert results["learned_from"] == "consumer-monthly/9"
    for policy in results["policies"]:
        assert policy["policy"] in html
        assert f"{policy['recovery_rate']:.1%} ({policy['recovered']}/{policy['cases']})" in html
        if policy["policy"].startswith(OURS):
            assert policy["cap_violations"] == 0
            assert policy["never_attempts"] == 0
    assert html.count("<svg") == len(CHARTS)
    for chart in CHARTS:
        png = tmp_path / chart
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert chart in html
    assert "| policy |" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_the_terminal_table_and_a_csv_backtest(tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    cases = run_policy(generate(PRESETS["consumer-monthly"], 60, 4), BASELINES[2]).cases
    with history.open("w", newline="", encoding="utf-8") as handle:
        write_history(cases, handle)
    result = CliRunner().invoke(cli(), ["--csv", str(history), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "history" in result.output
    assert "ours" in result.output
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "history (as it happened)" in html
    assert "Backtest of history.csv" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--learn-from", "consumer-monthly"], "PRESET/SEED"),
        (["--learn-from", "consumer-monthly/1"], "must differ"),
        (["--preset", "enterprise"], "unknown preset"),
    ],
)
def test_bad_options_exit_2_with_a_reason(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli(), [*args, "--customers", "5", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output


def test_a_broken_csv_is_refused_with_line_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "case_id,customer_id,attempted_at,outcome,amount,currency,payment_method_id\nx,c,soon,failed,1,USD,pm\n"
    )
    result = CliRunner().invoke(cli(), ["--csv", str(bad), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "line 2: attempted_at must be an ISO 8601" in result.output
