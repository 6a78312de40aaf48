"""Write a study's report: report.html (table and inline charts), PNG charts, results.json, summary.md."""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from dunning.simulation.charts import draw_all
from dunning.simulation.table import COLUMNS, markdown, row

if TYPE_CHECKING:
    from dunning.simulation.study import StudyResult

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.35rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.ours td:first-child { font-weight: 600; }
figure { margin: 2rem 0; } figure svg { max-width: 100%; height: auto; }
dt { font-weight: 600; } dd { margin: 0 0 0.6rem 1rem; }
"""

_DEFINITIONS = (
    ("recovered", "cases paid by a charge of the policy (or on a card the customer attached), of all cases"),
    ("revenue recovered", "sum of recovered invoices per currency, and its share of what was owed"),
    (
        "retries / recovery",
        "charges after the failure that opened each case, over all cases, per recovered case",
    ),
    (
        "days to recover",
        "from the failure to the successful charge, recovered cases only, nearest-rank p50/p90",
    ),
    (
        "cap violations",
        "charges that the card's earlier charges (any case) put over a card network cap "
        "(Visa 15/30 days; Mastercard 35/30 days and 10/24 h; unknown brands all of them)",
    ),
    (
        "never-decline retries",
        "charges on a method after a `never` decline on it: in the same case, "
        "and in any case of the run (the same card on another invoice; the failure that opened "
        "a case is the processor's charge of a new invoice, not a retry, and is not counted)",
    ),
)


def write_report(result: StudyResult, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    charts = draw_all(result.metrics, out)
    (out / "summary.md").write_text(_summary(result), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(_json(result), indent=2), encoding="utf-8")
    page = out / "report.html"
    page.write_text(_html(result, charts), encoding="utf-8")
    return page


def _summary(result: StudyResult) -> str:
    return f"### {result.title}\n\n{result.describe()}\n\n{markdown(result.metrics)}"


def _json(result: StudyResult) -> dict[str, object]:
    return {
        "title": result.title,
        "population": result.population,
        "learned_from": result.learned_from,
        "policies": [
            {
                **asdict(m),
                "recovery_rate": m.recovery_rate,
                "attempts_per_recovery": m.attempts_per_recovery,
                "by_code": {code: list(pair) for code, pair in m.by_code.items()},
            }
            for m in result.metrics
        ],
    }


def _html(result: StudyResult, charts: list[tuple[str, str, Path]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join(
        f'<tr class="{"ours" if m.policy.startswith("ours") else "baseline"}">'
        + "".join(f"<td>{esc(cell)}</td>" for cell in row(m))
        + "</tr>"
        for m in result.metrics
    )
    figures = "".join(
        f'<figure><figcaption><h2>{esc(title)}</h2> (<a href="{esc(png.name)}">PNG</a>)</figcaption>'
        f"{svg}</figure>"
        for title, svg, png in charts
    )
    terms = "".join(f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in _DEFINITIONS)
    policies = "".join(f"<li><b>{esc(name)}</b>: {esc(text)}</li>" for name, text in result.policy_notes)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(result.title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{esc(result.title)}</h1><p>{esc(result.describe())}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<h2>Policies</h2><ul>{policies}</ul><h2>Definitions</h2><dl>{terms}</dl>{figures}"
        "<p>Methodology, ground truth and limitations: docs/simulation.md.</p></body></html>\n"
    )
