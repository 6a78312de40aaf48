"""The few words the renderer itself writes: how to address a customer and how they opt out."""

from __future__ import annotations

from typing import Final

from dunning.notify.content.locales import negotiate_locale

# ja and ko address a customer with an honorific; writing it here (not in each template) means
# a missing name falls back to the polite generic form instead of an awkward "お客様 様".
_NAMED: Final = {"en": "{name}", "ja": "{name} 様", "ko": "{name} 고객님"}
_UNNAMED: Final = {"en": "there", "ja": "お客様", "ko": "고객님"}

# Japanese text punctuates with the full-width colon; the ASCII one looks like a typo there.
_EMAIL_OPT_OUT_LINK: Final = {
    "en": "Don't want these emails? Unsubscribe: {url}",
    "ja": "今後このようなメールの配信を希望されない場合は、こちらから配信停止できます：{url}",  # noqa: RUF001
    "ko": "이 메일을 더 이상 받고 싶지 않으시면 여기에서 수신거부하실 수 있습니다: {url}",
}
_EMAIL_OPT_OUT_LINK_LABEL: Final = {
    "en": ("Don't want these emails?", "Unsubscribe"),
    "ja": ("今後このようなメールの配信を希望されない場合は", "配信停止の手続き"),
    "ko": ("이 메일을 더 이상 받고 싶지 않으시면", "수신거부"),
}
# Without a link the customer can still opt out by replying; the mailer honours it.
_EMAIL_OPT_OUT_REPLY: Final = {
    "en": 'Don\'t want these emails? Reply with "unsubscribe" and we will stop.',
    "ja": "今後このようなメールの配信を希望されない場合は、「配信停止」とご返信ください。",
    "ko": "이 메일을 더 이상 받고 싶지 않으시면 '수신거부'라고 회신해 주세요.",
}
_SMS_OPT_OUT: Final = {
    "en": "Reply STOP to opt out.",
    "ja": "配信停止はSTOPと返信",
    "ko": "수신거부: STOP 회신",
}
_CARD: Final = {"en": "card", "ja": "カード", "ko": "카드"}


def addressee(name: str | None, locale: str) -> str:
    """How a message addresses the customer, with the honorific their language expects."""
    lang = negotiate_locale([locale])
    if name is None or not name.strip():
        return _UNNAMED[lang]
    return _NAMED[lang].format(name=name.strip())


def email_opt_out_text(url: str | None, locale: str) -> str:
    lang = negotiate_locale([locale])
    if url is None:
        return _EMAIL_OPT_OUT_REPLY[lang]
    return _EMAIL_OPT_OUT_LINK[lang].format(url=url)


def email_opt_out_link_label(locale: str) -> tuple[str, str]:
    """The sentence before the unsubscribe link and the link's own text."""
    return _EMAIL_OPT_OUT_LINK_LABEL[negotiate_locale([locale])]


def sms_opt_out(locale: str) -> str:
    return _SMS_OPT_OUT[negotiate_locale([locale])]


def card_word(locale: str) -> str:
    return _CARD[negotiate_locale([locale])]
