"""Golden copies of every default message as a customer receives it; UPDATE_GOLDEN=1 rewrites them.

A wording change shows up as a readable diff of the golden file, reviewed like any other change.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from dunning.notify.content import default_template, render, sample_facts
from dunning.notify.content.facts import StatementLine
from dunning.notify.domain.channels import SUPPORTED_LOCALES, Channel, TemplateName

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def all_channels(template: TemplateName, locale: str) -> str:
    facts = sample_facts(locale)
    sections = []
    for channel in Channel:
        message = render(default_template(template, channel, locale), facts, locale=locale, channel=channel)
        for part in ("subject", "text", "html"):
            content = getattr(message, part)
            if content is not None:
                sections.append(f"=== {channel.value}.{part} ===\n{content.rstrip()}\n")
    return "\n".join(sections)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", TemplateName)
def test_default_messages_match_their_golden_copy(template: TemplateName, locale: str) -> None:
    path = GOLDEN / locale / f"{template.value}.txt"
    actual = all_channels(template, locale)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden copy at {path}; run with UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{locale}/{template.value} differs from its golden copy; if the change is intended, "
        "rerun with UPDATE_GOLDEN=1 and review the diff"
    )


def b2b_statement(locale: str) -> str:
    """The friendly level as a business customer with two unpaid invoices reads it."""
    facts = sample_facts(locale)
    currency, amount = facts.currency, facts.amount
    older = StatementLine(
        number="INV-2025-0031",
        due_date=date(2025, 2, 5),
        days_overdue=37,
        amount=amount * 2,
        currency=currency,
        charges=facts.fee or 0,
    )
    newer = StatementLine(
        number="INV-2025-0042", due_date=date(2025, 3, 13), days_overdue=1, amount=amount, currency=currency
    )
    facts = replace(facts, statement=(older, newer))
    sections = []
    for channel in (Channel.EMAIL, Channel.IN_APP):
        message = render(
            default_template(TemplateName.FRIENDLY, channel, locale), facts, locale=locale, channel=channel
        )
        for part in ("subject", "text", "html"):
            content = getattr(message, part)
            if content is not None:
                sections.append(f"=== {channel.value}.{part} ===\n{content.rstrip()}\n")
    return "\n".join(sections)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_b2b_statement_matches_its_golden_copy(locale: str) -> None:
    path = GOLDEN / locale / "b2b_statement.txt"
    actual = b2b_statement(locale)
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden copy at {path}; run with UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), (
        f"the {locale} b2b statement differs from its golden copy; if intended, rerun with UPDATE_GOLDEN=1"
    )
