"""Which of our written languages a customer gets, and the Babel locale their numbers are formatted in."""

from __future__ import annotations

from collections.abc import Sequence

from babel import Locale, UnknownLocaleError

from dunning.notify.domain.channels import SUPPORTED_LOCALES

FALLBACK_LOCALE = "en"


def negotiate_locale(preferred: Sequence[str]) -> str:
    """The first of the customer's preferences we have wording for ('ja-JP', 'ko_KR', 'EN-us'), else 'en'."""
    for tag in preferred:
        language = tag.strip().replace("_", "-").split("-", 1)[0].lower()
        if language in SUPPORTED_LOCALES:
            return language
    return FALLBACK_LOCALE


def babel_locale(tag: str) -> Locale:
    """Any locale Babel knows formats numbers and dates in its own way; anything else falls back to en."""
    try:
        return Locale.parse(tag.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(FALLBACK_LOCALE)
