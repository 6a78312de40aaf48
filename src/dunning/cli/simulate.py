"""``dunning simulate``: run the real retry scheduler and fixed-schedule baselines over failed payments.

Registered in main.py as ``dunning simulate``; ``python -m dunning.cli.simulate`` works too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

PRESET_NAMES = ("consumer-monthly", "b2b-net30", "mixed-global")


def simulate(
    preset: Annotated[
        str, typer.Option(help=f"Synthetic population: {', '.join(PRESET_NAMES)}.")
    ] = "consumer-monthly",
    customers: Annotated[int, typer.Option(min=1, max=1_000_000, help="Customers to generate.")] = 2000,
    seed: Annotated[
        int, typer.Option(help="Seed of the population; the same seed gives the same figures.")
    ] = 1,
    csv: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Backtest a tenant's attempt history (docs/simulation.md)."
        ),
    ] = None,
    learn_from: Annotated[
        str | None,
        typer.Option(
            help="Fit the learner on PRESET/SEED (default: same preset, seed + 1000; a CSV: its older half).",
        ),
    ] = None,
    learn: Annotated[bool, typer.Option(help="Also run ours with the learner.")] = True,
    out: Annotated[
        Path, typer.Option(file_okay=False, help="Directory for report.html, PNGs, results.json.")
    ] = Path("simulation-report"),
) -> None:
    """Simulate failed-payment recovery per retry policy and write an HTML/PNG report."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from dunning.simulation.csv_import import CsvImportError
    from dunning.simulation.report import write_report
    from dunning.simulation.study import StudySpec, run_study
    from dunning.simulation.table import SHORT_COLUMNS, row

    spec = StudySpec(
        preset=preset, customers=customers, seed=seed, csv=csv, learn_from=learn_from, learn=learn
    )
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )

    def track(label: str, total: int) -> Callable[[int], None]:
        task = bar.add_task(label, total=total)
        return lambda done: bar.advance(task, done)

    try:
        with bar:
            result = run_study(spec, track)
    except CsvImportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    table = Table(title=result.title, caption=result.describe())
    for column in SHORT_COLUMNS:
        table.add_column(column, overflow="fold")
    for metrics in result.metrics:
        cells = row(metrics, amounts=False, joiner="\n")
        table.add_row(*cells, style="bold" if metrics.policy.startswith("ours") else None)
    Console().print(table)
    page = write_report(result, out)
    typer.echo(f"report: {page} (charts as PNG and results.json beside it)")


def main() -> None:
    typer.run(simulate)


if __name__ == "__main__":
    main()
