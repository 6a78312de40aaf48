"""Checking a tenant's template before it is saved, and counting what an SMS will cost."""

from __future__ import annotations

import pytest

from dunning.notify.content import TemplateSource, sms_segments, validate
from dunning.notify.domain.channels import Channel

GOOD_EMAIL = TemplateSource(
    subject="Payment for {{ merchant_name }}",
    text="Hi {{ customer_name }}, {{ total }} is due.{% if fee %} Fee: {{ fee }}.{% endif %}",
    html="<p>Hi {{ customer_name }}, {{ total }} is due.</p>",
)


def test_a_sound_email_template_has_no_problems() -> None:
    assert validate(GOOD_EMAIL, Channel.EMAIL) == []


def test_unknown_variable_is_reported_with_a_suggestion() -> None:
    source = TemplateSource(subject="s", text="Hi {{ customer_nam }}, pay {{ amont }} {{ zzz }}", html=None)
    assert validate(source, Channel.EMAIL) == [
        "text: unknown variable 'amont'; did you mean 'amount'?",
        "text: unknown variable 'customer_nam'; did you mean 'customer_name'?",
        "text: unknown variable 'zzz'",
    ]


def test_variables_a_template_defines_itself_are_not_unknown() -> None:
    source = TemplateSource(
        subject="s", text="{% set due = total %}{% for i in range(2) %}{{ due }}{% endfor %}", html=None
    )
    assert validate(source, Channel.EMAIL) == []


def test_syntax_error_names_the_part_and_line() -> None:
    source = TemplateSource(subject="s", text="ok", html="<p>\n{% if fee %}unclosed</p>")
    problems = validate(source, Channel.EMAIL)
    assert len(problems) == 1
    assert problems[0].startswith("html: line 2:")


def test_email_needs_a_subject_and_text() -> None:
    assert validate(TemplateSource(subject=None, text="  ", html=None), Channel.EMAIL) == [
        "subject: an email needs a subject",
        "text: the plain-text part is empty",
    ]


def test_sms_has_neither_subject_nor_html() -> None:
    problems = validate(TemplateSource(subject="s", text="pay", html="<p>pay</p>"), Channel.SMS)
    assert problems == [
        "subject: an SMS has no subject; remove it",
        "html: an SMS is plain text only; remove the HTML part",
    ]


def test_sandbox_escape_is_reported_not_raised() -> None:
    problems = validate(
        TemplateSource(subject=None, text="{{ ''.__class__.__mro__ }}", html=None), Channel.SMS
    )
    assert len(problems) == 1
    assert "unsafe" in problems[0]


def test_template_that_breaks_only_when_a_fact_is_missing_is_caught() -> None:
    # Works with the sample case (which has a plan), fails for a customer without one.
    source = TemplateSource(subject=None, text="{{ plan_offer.instalments + 1 }}", html=None)
    problems = validate(source, Channel.SMS)
    assert len(problems) == 1
    assert problems[0].startswith("text:")


def test_unknown_filter_is_reported() -> None:
    problems = validate(TemplateSource(subject=None, text="{{ amount|shout }}", html=None), Channel.SMS)
    assert len(problems) == 1
    assert "shout" in problems[0]


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters take two septets each
        ("€" * 81, 2),
        ("a" * 158 + "€", 1),
        ("a" * 153 + "€" + "a" * 151, 2),  # an escape pair never straddles two segments
        ("a" * 152 + "€" + "a" * 152, 3),
        ("お" * 70, 1),
        ("お" * 71, 2),
        ("お" * 134, 2),
        ("お" * 135, 3),
        ("a" * 69 + "😀", 2),  # an emoji is two UTF-16 units and forces UCS-2
        ("Straße ñ Ø", 1),
    ],
)
def test_sms_segments_follow_gsm7_and_ucs2_limits(text: str, segments: int) -> None:
    assert sms_segments(text) == segments
