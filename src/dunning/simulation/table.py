"""The results table as text cells, shared by the terminal, the Markdown summary and the HTML report."""

from __future__ import annotations

from collections.abc import Sequence

from dunning.simulation.metrics import PolicyMetrics
from dunning.simulation.presets import CURRENCY_EXPONENT

COLUMNS = (
    "policy",
    "recovered",
    "revenue recovered",
    "retries / recovery",
    "days to recover p50 / p90",
    "cap violations",
    "never-decline retries (case / any case)",
)
# The same columns, short enough for an 80-column terminal.
SHORT_COLUMNS = (
    "policy",
    "recovered",
    "revenue",
    "retries /rec.",
    "days p50/p90",
    "cap viol.",
    "never case/any",
)


def money(minor: int, currency: str) -> str:
    exponent = CURRENCY_EXPONENT.get(currency, 2)
    return f"{currency} {minor / 10**exponent:,.{exponent}f}"


def revenue_cell(m: PolicyMetrics, *, amounts: bool, joiner: str = ", ") -> str:
    parts = []
    for currency in sorted(m.owed_minor, key=lambda c: -m.owed_minor[c]):
        share = f"{m.revenue_share(currency):.1%}"
        parts.append(
            f"{money(m.recovered_minor.get(currency, 0), currency)} ({share})"
            if amounts
            else f"{currency} {share}"
        )
    return joiner.join(parts)


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def row(m: PolicyMetrics, *, amounts: bool = True, joiner: str = ", ") -> tuple[str, ...]:
    per = m.attempts_per_recovery
    return (
        m.policy,
        f"{m.recovery_rate:.1%} ({m.recovered}/{m.cases})",
        revenue_cell(m, amounts=amounts, joiner=joiner),
        "-" if per is None else f"{per:.2f}",
        f"{_days(m.ttr_p50_days)} / {_days(m.ttr_p90_days)}",
        str(m.cap_violations),
        f"{m.never_attempts} / {m.never_attempts_any_case}",
    )


def markdown(metrics: Sequence[PolicyMetrics], *, amounts: bool = True) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(m, amounts=amounts)) + " |" for m in metrics]
    return "\n".join(lines) + "\n"
