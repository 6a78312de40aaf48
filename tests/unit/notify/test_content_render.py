"""Rendering tenant templates: Babel money and dates, sandboxing, escaping, and the opt-out guarantee."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunning.notify.content import (
    MessageFacts,
    PlanOffer,
    TemplateProblem,
    TemplateSource,
    default_template,
    render,
    sample_facts,
)
from dunning.notify.domain.channels import Channel, TemplateName

UNSUBSCRIBE = "https://example.com/u/abc?list=dunning&id=7"


def facts(**overrides: object) -> MessageFacts:
    base = MessageFacts(
        merchant_name="Acme",
        amount=1234,
        currency="USD",
        unsubscribe_url=UNSUBSCRIBE,
        update_payment_url="https://example.com/pay/abc",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def text_of(
    template: str, case: MessageFacts, *, locale: str = "en", channel: Channel = Channel.IN_APP
) -> str:
    return render(
        TemplateSource(subject=None, text=template, html=None), case, locale=locale, channel=channel
    ).text


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (1234, "USD", "en", "$12.34"),
        (1230, "usd", "en", "$12.30"),
        (1200, "JPY", "ja", "￥1,200"),
        (1200, "JPY", "en", "¥1,200"),
        (50000, "KRW", "ko", "₩50,000"),
        (4000, "EUR", "en", "€40.00"),
        (1234, "BHD", "en", "BHD1.234"),
        (5, "USD", "en", "$0.05"),
    ],
)
def test_amount_is_written_in_the_currency_own_minor_unit(
    amount: int, currency: str, locale: str, expected: str
) -> None:
    assert text_of("{{ amount }}", facts(amount=amount, currency=currency), locale=locale) == expected


def test_total_adds_fee_interest_and_compensation() -> None:
    case = facts(amount=10000, currency="EUR", fee=500, interest=123, compensation=4000)
    out = text_of("{{ fee }}|{{ interest }}|{{ compensation }}|{{ total }}", case)
    assert out == "€5.00|€1.23|€40.00|€146.23"


def test_absent_or_zero_fee_is_falsy_so_templates_can_leave_it_out() -> None:
    template = "{% if fee %}fee {{ fee }}{% else %}no fee{% endif %}"
    assert text_of(template, facts(fee=None)) == "no fee"
    assert text_of(template, facts(fee=0)) == "no fee"
    assert text_of(template, facts(fee=250)) == "fee $2.50"


@pytest.mark.parametrize(
    ("locale", "expected"), [("en", "Mar 7, 2025"), ("ja", "2025/03/07"), ("ko", "2025. 3. 7.")]
)
def test_due_date_is_a_localized_medium_date(locale: str, expected: str) -> None:
    assert text_of("{{ due_date }}", facts(due_date=date(2025, 3, 7)), locale=locale) == expected


@pytest.mark.parametrize(
    ("name", "locale", "expected"),
    [
        ("Alex", "en", "Alex"),
        (None, "en", "there"),
        ("山田 太郎", "ja", "山田 太郎 様"),
        (None, "ja", "お客様"),
        ("김민준", "ko", "김민준 고객님"),
        (None, "ko", "고객님"),
        ("  ", "ko", "고객님"),
    ],
)
def test_customer_is_addressed_politely_with_or_without_a_name(
    name: str | None, locale: str, expected: str
) -> None:
    assert text_of("{{ customer_name }}", facts(customer_name=name), locale=locale) == expected


def test_plan_offer_and_card_are_formatted_objects() -> None:
    case = facts(
        plan_offer=PlanOffer(instalments=3, instalment_amount=1800, every_days=30),
        card_brand="mastercard",
        card_last4="4444",
        card_exp_month=4,
        card_exp_year=2027,
    )
    template = "{{ plan_offer.instalments }}x{{ plan_offer.instalment_amount }}/{{ plan_offer.every_days }}d "
    template += "{{ card.brand }} {{ card.last4 }} {{ card.exp }}"
    assert text_of(template, case) == "3x$18.00/30d Mastercard 4444 04/27"


def test_money_and_date_filters_format_for_the_message_locale() -> None:
    template = "{{ 150000|money('KRW') }} {{ facts.due_date|date('long') }}"
    assert text_of(template, facts(due_date=date(2025, 3, 7)), locale="ko") == "₩150,000 2025년 3월 7일"


def test_money_filter_refuses_floats() -> None:
    with pytest.raises(TemplateProblem, match="integer number of minor units"):
        text_of("{{ 12.5|money('USD') }}", facts())


def test_unguarded_missing_fact_prints_nothing_rather_than_none() -> None:
    assert text_of("Invoice [{{ invoice_number }}]", facts(invoice_number=None)) == "Invoice []"


def test_regional_locale_tags_format_like_their_language() -> None:
    assert text_of("{{ amount }}", facts(amount=1200, currency="JPY"), locale="ja-JP") == "￥1,200"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ facts.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ 'x' * 1000000000 }}",
        "{{ 10 ** 100000000 }}",
    ],
)
def test_sandbox_refuses_escapes_and_runaway_work(template: str) -> None:
    with pytest.raises(TemplateProblem, match=r"not allowed|unsafe|too large|too long"):
        text_of(template, facts())


def test_immutable_sandbox_refuses_mutation() -> None:
    with pytest.raises(TemplateProblem):
        text_of("{% set xs = [1] %}{{ xs.append(2) }}", facts())


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{{ amount ", "text: line 1:"),
        ("{{ no_such_thing }}", "'no_such_thing' is undefined"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ amount|shout }}", "shout"),
    ],
)
def test_broken_templates_raise_a_template_problem_naming_the_cause(template: str, fragment: str) -> None:
    with pytest.raises(TemplateProblem) as caught:
        text_of(template, facts())
    assert fragment in caught.value.message


def test_html_escapes_facts_but_text_does_not() -> None:
    case = facts(customer_name="<script>alert(1)</script>")
    source = TemplateSource(
        subject="Hi {{ customer_name }}", text="Hi {{ customer_name }}", html="<p>{{ customer_name }}</p>"
    )
    message = render(source, case, locale="en", channel=Channel.EMAIL)
    assert message.html is not None
    assert "<script" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert message.subject == "Hi <script>alert(1)</script>"
    assert message.text.startswith("Hi <script>alert(1)</script>")


def test_subject_is_always_one_line_so_it_cannot_inject_headers() -> None:
    source = TemplateSource(
        subject="Hello\r\nBcc: victim@example.com\n{{ merchant_name }}", text="x", html=None
    )
    message = render(source, facts(), locale="en", channel=Channel.EMAIL)
    assert message.subject == "Hello Bcc: victim@example.com Acme"


def test_email_without_subject_is_refused() -> None:
    with pytest.raises(TemplateProblem, match="subject"):
        render(TemplateSource(subject=" ", text="x", html=None), facts(), locale="en", channel=Channel.EMAIL)


def test_email_opt_out_footer_is_added_when_the_template_omits_it() -> None:
    source = TemplateSource(
        subject="s", text="Please pay.", html="<html><body><p>Please pay.</p></body></html>"
    )
    message = render(source, facts(), locale="en", channel=Channel.EMAIL)
    assert message.text == f"Please pay.\n\nDon't want these emails? Unsubscribe: {UNSUBSCRIBE}"
    assert message.html is not None
    escaped = UNSUBSCRIBE.replace("&", "&amp;")
    assert f'<a href="{escaped}">Unsubscribe</a></p>\n</body></html>' in message.html


def test_email_opt_out_footer_is_not_doubled_when_the_template_has_the_link() -> None:
    source = TemplateSource(
        subject="s",
        text="Pay. Stop: {{ unsubscribe_url }}",
        html='<p>Pay. <a href="{{ unsubscribe_url }}">stop</a></p>',
    )
    message = render(source, facts(), locale="en", channel=Channel.EMAIL)
    assert message.text == f"Pay. Stop: {UNSUBSCRIBE}"
    assert message.html is not None
    assert message.html.count("example.com/u/abc") == 1


def test_email_without_unsubscribe_link_offers_reply_to_opt_out_in_the_customer_language() -> None:
    source = TemplateSource(subject="s", text="お支払いください。", html="<p>お支払いください。</p>")
    message = render(source, facts(unsubscribe_url=None), locale="ja", channel=Channel.EMAIL)
    assert message.text.endswith("「配信停止」とご返信ください。")
    assert message.html is not None
    assert "「配信停止」とご返信ください。" in message.html


@pytest.mark.parametrize(
    ("locale", "footer"),
    [("en", "Reply STOP to opt out."), ("ja", "配信停止はSTOPと返信"), ("ko", "수신거부: STOP 회신")],
)
def test_sms_gets_a_stop_instruction_unless_it_has_one(locale: str, footer: str) -> None:
    assert text_of("Please pay {{ amount }}.", facts(), locale=locale, channel=Channel.SMS).endswith(footer)
    own = text_of("Pay now. Text STOP to quit", facts(), locale=locale, channel=Channel.SMS)
    assert own == "Pay now. Text STOP to quit"


def test_sms_word_containing_stop_is_not_mistaken_for_an_opt_out() -> None:
    out = text_of("NONSTOP service: pay {{ amount }}", facts(), channel=Channel.SMS)
    assert out.endswith("Reply STOP to opt out.")


def test_sms_and_in_app_drop_parts_their_channel_cannot_carry() -> None:
    source = TemplateSource(subject="Title", text="Body", html="<p>Body</p>")
    sms = render(source, facts(), locale="en", channel=Channel.SMS)
    in_app = render(source, facts(), locale="en", channel=Channel.IN_APP)
    assert (sms.subject, sms.html) == (None, None)
    assert (in_app.subject, in_app.text, in_app.html) == ("Title", "Body", None)


def test_text_loses_blank_line_runs_left_by_false_conditions() -> None:
    template = "Hello\n\n{% if fee %}Fee {{ fee }}{% endif %}\n\nBye   \n"
    assert text_of(template, facts(fee=None)) == "Hello\n\nBye"


def test_sample_facts_use_the_local_currency() -> None:
    assert [sample_facts(loc).currency for loc in ("en", "ja", "ko", "fr")] == ["USD", "JPY", "KRW", "USD"]


def test_facts_reject_float_money() -> None:
    with pytest.raises(TypeError, match="minor units"):
        MessageFacts(merchant_name="Acme", amount=12.5, currency="USD")  # type: ignore[arg-type]


# Random text plus text built around the payloads that matter, which plain st.text() rarely hits.
_hostile_text = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda a, tag, b: f"{a}{tag}{b}",
        st.text(max_size=20),
        st.sampled_from(["<script>alert(1)</script>", "<SCRIPT src=x>", '"><img onerror=x>', "{{ 7*7 }}"]),
        st.text(max_size=20),
    ),
)


@given(
    name=_hostile_text,
    invoice=_hostile_text,
    locale=st.sampled_from(["en", "ja", "ko"]),
    template=st.sampled_from(list(TemplateName)),
)
def test_any_customer_text_renders_and_never_injects_markup(
    name: str, invoice: str, locale: str, template: TemplateName
) -> None:
    case = replace(sample_facts(locale), customer_name=name, invoice_number=invoice)
    message = render(
        default_template(template, Channel.EMAIL, locale), case, locale=locale, channel=Channel.EMAIL
    )
    assert message.html is not None
    assert "<script" not in message.html.lower()
    assert "<img" not in message.html
    if "{{ 7*7 }}" in name:  # customer text is shown, never evaluated as a template
        assert "{{ 7*7 }}" in message.text
    assert message.subject is not None
    assert "\n" not in message.subject
