"""The report's charts with matplotlib (Agg, no display): recovery curves, recovery by decline code, attempts.

Each chart is written as a PNG file and returned as SVG text to inline in the HTML report.
matplotlib is imported here only, so the rest of the CLI does not pay for it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dunning.simulation.metrics import CURVE_DAYS, PolicyMetrics

TOP_CODES = 10


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, png: Path) -> str:
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    _pyplot().close(fig)
    text = svg.getvalue()
    return text[text.index("<svg") :]


def _style(index: int, name: str) -> dict[str, Any]:
    ours = name.startswith("ours")
    return {"linewidth": 2.4 if ours else 1.4, "linestyle": "-" if ours else "--", "color": f"C{index % 10}"}


def recovery_curves(metrics: Sequence[PolicyMetrics], png: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    days = list(range(CURVE_DAYS + 1))
    for k, m in enumerate(metrics):
        ax.plot(days, [100 * v for v in m.curve], label=m.policy, **_style(k, m.policy))
    ax.set(xlabel="days since the failure", ylabel="cases recovered (%)", title="Recovery over time")
    ax.set_xlim(0, CURVE_DAYS)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, png)


def recovery_by_code(metrics: Sequence[PolicyMetrics], png: Path) -> str:
    plt = _pyplot()
    counts: dict[str, int] = {}
    for m in metrics[:1]:
        counts = {code: n for code, (n, _) in m.by_code.items()}
    codes = sorted(counts, key=lambda c: -counts[c])[:TOP_CODES]
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.55 * len(codes) * max(1, len(metrics)) / 4))
    height = 0.8 / max(len(metrics), 1)
    for k, m in enumerate(metrics):
        rates = [100 * m.by_code.get(c, (0, 0))[1] / max(m.by_code.get(c, (1, 0))[0], 1) for c in codes]
        ax.barh(
            [i + k * height for i in range(len(codes))],
            rates,
            height=height,
            label=m.policy,
            color=f"C{k % 10}",
        )
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(codes))])
    ax.set_yticklabels([f"{c} ({counts[c]})" for c in codes], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="cases recovered (%)", title="Recovery by the decline that opened the case (cases)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, png)


def attempts_histogram(metrics: Sequence[PolicyMetrics], png: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    most = max((max(m.attempts_histogram, default=1) for m in metrics), default=1)
    xs = list(range(1, most + 1))
    for k, m in enumerate(metrics):
        total = max(m.cases, 1)
        ax.plot(
            xs,
            [100 * m.attempts_histogram.get(x, 0) / total for x in xs],
            marker="o",
            markersize=3,
            label=m.policy,
            **_style(k, m.policy),
        )
    ax.set(
        xlabel="charges per case (the failure that opened it included)",
        ylabel="cases (%)",
        title="Attempts per case",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, png)


CHARTS = (
    ("recovery_curves", "Recovery over time", recovery_curves),
    ("recovery_by_code", "Recovery by decline code", recovery_by_code),
    ("attempts_histogram", "Attempts per case", attempts_histogram),
)


def draw_all(metrics: Sequence[PolicyMetrics], out: Path) -> list[tuple[str, str, Path]]:
    """(title, svg, png path) for each chart."""
    drawn = []
    for stem, title, draw in CHARTS:
        png = out / f"{stem}.png"
        drawn.append((title, draw(metrics, png), png))
    return drawn
