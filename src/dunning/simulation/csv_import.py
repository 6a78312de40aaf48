"""Import a tenant's history of dunning attempts from CSV, validated row by row (errors name the line).

Format (docs/simulation.md#csv-format): one row per charge attempt, a header row, any column
order. Required: ``case_id, customer_id, attempted_at, outcome, amount, currency,
payment_method_id``; optional: ``decline_code`` (required on failures), ``card_brand``,
``payment_method_kind`` (default ``card``), ``customer_tz``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dunning.simulation.cases import CaseResult

REQUIRED = ("case_id", "customer_id", "attempted_at", "outcome", "amount", "currency", "payment_method_id")
OPTIONAL = ("decline_code", "card_brand", "payment_method_kind", "customer_tz")
OUTCOMES = ("succeeded", "failed")
MAX_ERRORS_SHOWN = 20
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


class CsvImportError(ValueError):
    """The file cannot be used; ``errors`` lists every problem found, each with its line number."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f"\n... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        super().__init__(f"{len(errors)} problem(s) in the CSV:\n" + "\n".join(shown) + more)


@dataclass(frozen=True, slots=True)
class ImportedAttempt:
    line: int
    at: datetime
    succeeded: bool
    method_id: str
    card_brand: str | None
    method_kind: str
    decline_code: str | None


@dataclass(frozen=True, slots=True)
class ImportedCase:
    case_id: str
    customer_id: str
    amount: int
    currency: str
    customer_tz: str | None
    attempts: tuple[ImportedAttempt, ...]  # oldest first; the first one failed

    @property
    def opened_at(self) -> datetime:
        return self.attempts[0].at


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    case_id: str
    customer_id: str
    amount: int
    currency: str
    customer_tz: str | None
    attempt: ImportedAttempt


def read_history(path: Path) -> tuple[ImportedCase, ...]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return parse_history(handle)


def parse_history(lines: Iterable[str]) -> tuple[ImportedCase, ...]:
    """Every case in the file, oldest first; raises ``CsvImportError`` listing all problems."""
    reader = csv.DictReader(lines)
    header = [name.strip() for name in reader.fieldnames or ()]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    errors = [f"line 1: missing required column(s): {', '.join(missing)}"] if missing else []
    if unknown:
        errors.append(
            f"line 1: unknown column(s): {', '.join(unknown)} (known: {', '.join(REQUIRED + OPTIONAL)})"
        )
    if errors:
        raise CsvImportError(errors)
    rows: list[_Row] = []
    for raw in reader:
        line = reader.line_num
        if None in raw:
            errors.append(f"line {line}: more cells than columns in the header")
            continue
        cells = {k.strip(): v.strip() for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}
        row = _row(line, cells, errors)
        if row is not None:
            rows.append(row)
    if not rows and not errors:
        errors.append("the file has a header but no attempts")
    cases = _cases(rows, errors)
    if errors:
        raise CsvImportError(errors)
    return cases


def _row(line: int, cells: dict[str, str], errors: list[str]) -> _Row | None:
    problems: list[str] = []
    for name in ("case_id", "customer_id", "payment_method_id"):
        if not cells.get(name):
            problems.append(f"{name} is empty")
    at = _instant(cells.get("attempted_at", ""), problems)
    outcome = cells.get("outcome", "").lower()
    if outcome not in OUTCOMES:
        problems.append(f"outcome must be succeeded or failed, got {cells.get('outcome', '')!r}")
    amount_text = cells.get("amount", "")
    amount = int(amount_text) if amount_text.isdigit() else 0
    if amount <= 0:
        problems.append(f"amount must be a positive whole number of minor units (cents), got {amount_text!r}")
    currency = cells.get("currency", "")
    if not _CURRENCY.match(currency):
        problems.append(f"currency must be a 3-letter ISO 4217 code, got {currency!r}")
    code = cells.get("decline_code") or None
    if outcome == "failed" and code is None:
        problems.append("decline_code is required when outcome is failed")
    if outcome == "succeeded" and code is not None:
        problems.append(f"decline_code must be empty when outcome is succeeded, got {code!r}")
    zone = cells.get("customer_tz") or None
    if zone is not None and not _is_zone(zone):
        problems.append(f"customer_tz must be an IANA time zone such as Europe/Paris, got {zone!r}")
    if problems or at is None:
        errors.extend(f"line {line}: {problem}" for problem in problems)
        return None
    attempt = ImportedAttempt(
        line,
        at,
        outcome == "succeeded",
        cells["payment_method_id"],
        cells.get("card_brand") or None,
        cells.get("payment_method_kind") or "card",
        code,
    )
    return _Row(line, cells["case_id"], cells["customer_id"], amount, currency.upper(), zone, attempt)


def _instant(text: str, problems: list[str]) -> datetime | None:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"attempted_at must be an ISO 8601 date-time with an offset, got {text!r}")
        return None
    if at.tzinfo is None or at.utcoffset() is None:
        problems.append(f"attempted_at needs a UTC offset (e.g. 2025-03-01T09:30:00Z), got {text!r}")
        return None
    return at


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _cases(rows: list[_Row], errors: list[str]) -> tuple[ImportedCase, ...]:
    grouped: dict[str, list[_Row]] = {}
    for row in rows:
        grouped.setdefault(row.case_id, []).append(row)
    cases: list[ImportedCase] = []
    for case_id, case_rows in grouped.items():
        case_rows.sort(key=lambda r: (r.attempt.at, r.line))
        first = case_rows[0]
        bad = len(errors)
        for row in case_rows[1:]:
            for name in ("customer_id", "amount", "currency", "customer_tz"):
                if getattr(row, name) != getattr(first, name):
                    errors.append(
                        f"line {row.line}: case {case_id!r} has {name} {getattr(row, name)!r} here "
                        f"but {getattr(first, name)!r} on line {first.line}"
                    )
        if first.attempt.succeeded:
            errors.append(
                f"line {first.line}: case {case_id!r} starts with a success; a case opens with a failure"
            )
        won = [r for r in case_rows if r.attempt.succeeded]
        if won and won[0] is not case_rows[-1]:
            after = case_rows[case_rows.index(won[0]) + 1]
            errors.append(
                f"line {after.line}: case {case_id!r} has an attempt after its success on line {won[0].line}"
            )
        if len(errors) == bad:
            attempts = tuple(r.attempt for r in case_rows)
            cases.append(
                ImportedCase(
                    case_id, first.customer_id, first.amount, first.currency, first.customer_tz, attempts
                )
            )
    return tuple(sorted(cases, key=lambda c: (c.opened_at, c.case_id)))


def write_history(cases: Iterable[CaseResult], handle: TextIO) -> None:
    """Write simulated cases in the import format: sample data, and a round trip for the tests."""
    writer = csv.writer(handle)
    writer.writerow((*REQUIRED, *OPTIONAL))
    for case in cases:
        customer, invoice = case.customer, case.invoice
        for attempt in case.attempts:
            method = customer.instrument(attempt.method_id)
            writer.writerow(
                (
                    invoice.id,
                    customer.id,
                    attempt.at.isoformat(),
                    "succeeded" if attempt.succeeded else "failed",
                    invoice.amount,
                    invoice.currency,
                    attempt.method_id,
                    attempt.decline_code or "",
                    attempt.brand or "",
                    method.kind if method else "card",
                    customer.scheduler_tz or "",
                )
            )
