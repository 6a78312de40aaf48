"""Internal escalation settings: what the policy accepts, which level alerts whom, and the summary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from dunning.notify.content.case_summary import (
    CaseSummary,
    SummaryAttempt,
    SummaryInvoice,
    SummaryMessage,
    subject,
    summary_text,
)
from dunning.notify.internal_escalation import alerts_at, recipients_for
from dunning.notify.policy_schema import TENANT_DEFAULT, InternalEscalationBody, NotifyPolicyBody


def policy_with(**alert: Any) -> NotifyPolicyBody:
    body = TENANT_DEFAULT.model_dump(mode="json") | {"internal_escalation": alert}
    return NotifyPolicyBody.model_validate(body)


def test_off_by_default() -> None:
    assert TENANT_DEFAULT.internal_escalation.enabled is False
    assert not alerts_at(TENANT_DEFAULT.internal_escalation, 2, "firm")


@pytest.mark.parametrize(
    ("alert", "problem"),
    [
        ({"enabled": True, "level": "no_such_level", "recipients": ["a@b.example"]}, "names no level"),
        ({"enabled": True, "level": 20, "recipients": ["a@b.example"]}, "index from 0 to 19"),
        ({"enabled": True, "level": -1, "recipients": ["a@b.example"]}, "index from 0 to 19"),
        ({"chat_webhook_url": "http://hooks.example.com/x"}, "https"),
        ({"chat_webhook_url": "ftp://hooks.example.com/x"}, "https"),
        ({"chat_webhook_url": "https://user:pw@hooks.example.com/x"}, "without credentials"),
        ({"chat_webhook_url": "/relative"}, "absolute URL"),
        ({"enabled": True, "owner_override": False}, "needs recipients"),
        ({"enabled": True, "recipients": ["not an address"]}, "email"),
        ({"enabled": True, "recipients": ["a@b.example"], "surprise": 1}, "Extra inputs"),
    ],
)
def test_the_policy_refuses_settings_that_cannot_work(alert: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        policy_with(**alert)


def test_https_and_loopback_http_are_accepted() -> None:
    for url in ("https://hooks.slack.com/services/T/B/X", "http://localhost:8080/h", "http://127.0.0.1/h"):
        assert policy_with(enabled=True, chat_webhook_url=url).internal_escalation.chat_webhook_url == url


def test_a_level_is_matched_by_index_or_by_name() -> None:
    by_index = InternalEscalationBody(enabled=True, level=2, recipients=["a@b.example"])
    by_name = InternalEscalationBody(enabled=True, level="firm", recipients=["a@b.example"])
    assert [i for i in range(5) if alerts_at(by_index, i, "x")] == [2]
    assert alerts_at(by_name, 2, "firm")
    assert not alerts_at(by_name, 2, "final_notice")


def test_the_account_owner_replaces_the_team_when_allowed() -> None:
    team = InternalEscalationBody(enabled=True, recipients=["Sales@Acme.example", "sales@acme.example"])
    assert recipients_for(team, None) == ["sales@acme.example"]
    assert recipients_for(team, {"account_owner_email": "Owner@Acme.example"}) == ["owner@acme.example"]
    strict = team.model_copy(update={"owner_override": False})
    assert recipients_for(strict, {"account_owner_email": "owner@acme.example"}) == ["sales@acme.example"]


def test_the_summary_lists_every_overdue_invoice_and_the_story_so_far() -> None:
    summary = CaseSummary(
        merchant_name="Acme",
        case_id="case_1",
        level_name="firm",
        customer_id="cus_1",
        customer_name="Globex GmbH",
        customer_email="ap@globex.example",
        today=date(2026, 4, 10),
        opened_at=datetime(2026, 3, 1, tzinfo=UTC),
        invoices=[
            SummaryInvoice("in_0", "INV-7", 100000, "EUR", date(2026, 2, 28)),
            SummaryInvoice("in_1", "INV-8", 25050, "EUR", date(2026, 3, 31), this_case=True),
        ],
        attempts=[SummaryAttempt(datetime(2026, 3, 2, tzinfo=UTC), "attempt.failed", "do_not_honor")],
        messages=[SummaryMessage("friendly", "email", "sent", datetime(2026, 3, 1, tzinfo=UTC))],
        case_url="https://d.example/dashboard/#/cases/case_1",
    )
    text = summary_text(summary)
    assert subject(summary) == "[Dunning] Globex GmbH owes €250.50, 10 days overdue: case reached 'firm'"
    assert "- INV-7: €1,000.00, due Feb 28, 2026, 41 days overdue\n" in text
    assert "- INV-8: €250.50, due Mar 31, 2026, 10 days overdue (this case)\n" in text
    assert "Total overdue: €1,250.50" in text
    assert "- Mar 2, 2026: failed (do_not_honor)" in text
    assert "- friendly by email: sent on Mar 1, 2026" in text
    assert text.endswith("Case page: https://d.example/dashboard/#/cases/case_1\n")
