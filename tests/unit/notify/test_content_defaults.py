"""Our default wording: renders everywhere, says what is owed and how to fix it, and stays polite."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

import pytest
from babel import Locale

from dunning.notify.content import (
    MessageFacts,
    PlanOffer,
    RenderedMessage,
    default_template,
    negotiate_locale,
    render,
    sample_facts,
    sms_segments,
    validate,
)
from dunning.notify.content.formatting import format_money
from dunning.notify.domain.channels import SUPPORTED_LOCALES, Channel, TemplateName

DUNNING = (TemplateName.FRIENDLY, TemplateName.REMINDER, TemplateName.FIRM, TemplateName.FINAL_NOTICE)
OWED = (*DUNNING, TemplateName.COLLECTIONS)
ALL_CASES = [(t, c, loc) for t in TemplateName for c in Channel for loc in SUPPORTED_LOCALES]
MINIMAL = {
    "en": MessageFacts(merchant_name="Acme", amount=1000, currency="USD"),
    "ja": MessageFacts(merchant_name="Acme", amount=1000, currency="JPY"),
    "ko": MessageFacts(merchant_name="Acme", amount=10000, currency="KRW"),
}
FEE_LABEL = {"en": "Late fee", "ja": "督促手数料", "ko": "연체 수수료"}
PLAN_WORD = {"en": "instalments", "ja": "分割払い", "ko": "나누어 결제"}


def rendered(template: TemplateName, channel: Channel, locale: str, case: MessageFacts) -> RenderedMessage:
    return render(default_template(template, channel, locale), case, locale=locale, channel=channel)


def everything(message: RenderedMessage) -> str:
    return "\n".join(part for part in (message.subject, message.text, message.html) if part)


def money(minor: int, case: MessageFacts, locale: str) -> str:
    return format_money(minor, case.currency, Locale.parse(locale))


@pytest.mark.parametrize(("template", "channel", "locale"), ALL_CASES)
def test_every_default_is_a_valid_template_for_its_channel(
    template: TemplateName, channel: Channel, locale: str
) -> None:
    assert validate(default_template(template, channel, locale), channel) == []


@pytest.mark.parametrize(("template", "channel", "locale"), ALL_CASES)
@pytest.mark.parametrize("full", [True, False], ids=["sample", "minimal"])
def test_every_default_renders_cleanly_and_says_what_matters(
    template: TemplateName, channel: Channel, locale: str, full: bool
) -> None:
    case = sample_facts(locale) if full else MINIMAL[locale]
    message = rendered(template, channel, locale, case)
    shown = everything(message)
    for leftover in ("<<", "{{", "{%", "None", "\n\n\n"):
        assert leftover not in shown
    assert message.text.strip()
    assert (message.subject is None) == (channel is Channel.SMS)
    assert (message.html is not None) == (channel is Channel.EMAIL)
    assert case.merchant_name in shown
    if template in OWED:
        assert money(case.total, case, locale) in message.text
    if case.update_payment_url is not None:
        assert case.update_payment_url in message.text
    if case.support_email is not None and channel in (Channel.EMAIL, Channel.WEBHOOK):
        assert case.support_email in message.text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", DUNNING)
def test_fee_and_plan_are_mentioned_only_when_present(template: TemplateName, locale: str) -> None:
    with_both = rendered(template, Channel.EMAIL, locale, sample_facts(locale))
    without = rendered(
        template, Channel.EMAIL, locale, replace(sample_facts(locale), fee=None, plan_offer=None)
    )
    assert FEE_LABEL[locale] in with_both.text
    assert FEE_LABEL[locale] not in everything(without)
    assert PLAN_WORD[locale] not in everything(without)
    if template is not TemplateName.FRIENDLY:  # day 0 does not offer a plan yet
        assert PLAN_WORD[locale] in with_both.text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_b2b_interest_and_fixed_compensation_are_itemised(locale: str) -> None:
    case = MessageFacts(merchant_name="Acme", amount=100000, currency="EUR", interest=1234, compensation=4000)
    text = rendered(TemplateName.FIRM, Channel.EMAIL, locale, case).text
    assert money(1234, case, locale) in text
    assert money(4000, case, locale) in text
    assert money(105234, case, locale) in text


def test_card_expiry_names_the_card_the_customer_has() -> None:
    text = rendered(TemplateName.CARD_EXPIRING, Channel.EMAIL, "en", sample_facts("en")).text
    assert "Visa ending in 4242" in text
    assert "04/25" in text


@pytest.mark.parametrize(
    ("template", "locale"), [(t, loc) for t in TemplateName for loc in SUPPORTED_LOCALES]
)
def test_sms_defaults_fit_in_two_segments_including_the_opt_out(template: TemplateName, locale: str) -> None:
    message = rendered(template, Channel.SMS, locale, sample_facts(locale))
    assert sms_segments(message.text) <= 2
    if locale == "en":
        assert sms_segments(message.text) == 1


class _TagBalance(HTMLParser):
    VOID = frozenset({"meta", "br"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(tag)


@pytest.mark.parametrize(
    ("template", "locale"), [(t, loc) for t in TemplateName for loc in SUPPORTED_LOCALES]
)
def test_default_email_html_is_well_formed_and_declares_its_language(
    template: TemplateName, locale: str
) -> None:
    for case in (sample_facts(locale), MINIMAL[locale]):
        html = rendered(template, Channel.EMAIL, locale, case).html
        assert html is not None
        checker = _TagBalance()
        checker.feed(html)
        assert (checker.open, checker.problems) == ([], [])
        assert f'<html lang="{locale}">' in html
        assert "<p " in html
        assert '<p style="margin:0 0 16px;"></p>' not in html


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_email_button_and_opt_out_link_are_real_links(locale: str) -> None:
    case = sample_facts(locale)
    html = rendered(TemplateName.REMINDER, Channel.EMAIL, locale, case).html
    assert html is not None
    assert f'<a href="{case.update_payment_url}"' in html
    assert f'<a href="{case.unsubscribe_url}"' in html


_NEVER_SAY = (
    "legal action",
    "lawsuit",
    "court",
    "credit score",
    "credit report",
    "failure to pay",
    "warning",
)


@pytest.mark.parametrize("template", TemplateName)
def test_english_wording_never_threatens(template: TemplateName) -> None:
    text = everything(rendered(template, Channel.EMAIL, "en", sample_facts("en"))).lower()
    assert not [phrase for phrase in _NEVER_SAY if phrase in text]


@pytest.mark.parametrize("template", TemplateName)
def test_japanese_wording_is_polite_and_korean_formal(template: TemplateName) -> None:
    ja = rendered(template, Channel.EMAIL, "ja", sample_facts("ja")).text
    ko = rendered(template, Channel.EMAIL, "ko", sample_facts("ko")).text
    assert "山田 太郎 様" in ja
    assert "ます。" in ja
    assert "김민준 고객님" in ko
    assert "니다." in ko


def test_unknown_or_regional_locale_picks_our_wording() -> None:
    friendly = TemplateName.FRIENDLY
    assert default_template(friendly, Channel.SMS, "fr") == default_template(friendly, Channel.SMS, "en")
    assert default_template(friendly, Channel.SMS, "ja-JP") == default_template(friendly, Channel.SMS, "ja")


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        (["ja-JP"], "ja"),
        (["ko_KR"], "ko"),
        (["EN-us"], "en"),
        (["fr-FR", "KO"], "ko"),
        (["de", "pt-BR"], "en"),
        ([], "en"),
        ([""], "en"),
    ],
)
def test_negotiate_locale_takes_the_first_language_we_write(preferred: list[str], expected: str) -> None:
    assert negotiate_locale(preferred) == expected


def test_plan_offer_in_sample_adds_up() -> None:
    for locale in SUPPORTED_LOCALES:
        case = sample_facts(locale)
        assert case.plan_offer is not None
        assert isinstance(case.plan_offer, PlanOffer)
        assert case.plan_offer.instalments * case.plan_offer.instalment_amount == case.total
