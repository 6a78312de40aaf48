"""The self-service page's words per language (wording/<lang>.toml, edited by translators), which
language a visitor gets, and money and dates written the way that language writes them."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Final

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from dunning.common.money import minor_unit_exponent, normalize_currency

LANGUAGES: Final = ("en", "ja", "ko")
FALLBACK: Final = "en"


@cache
def _catalog(lang: str) -> dict[str, str]:
    source = files("dunning.retry.selfservice").joinpath("wording", f"{lang}.toml").read_text("utf-8")
    return {key: str(value) for key, value in tomllib.loads(source).items()}


def supported(tag: str | None) -> str | None:
    """'ja-JP', 'ko_KR', 'EN' → the language we have words for; None when we have none."""
    if not tag:
        return None
    language = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return language if language in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The visitor's most preferred language we have (RFC 9110 weights; q=0 means "not this")."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        language = supported(tag)
        if language and weight > 0:
            ranked.append((-weight, index, language))
    return min(ranked)[2] if ranked else None


def choose_language(candidates: Sequence[str | None], accept_language: str | None) -> str:
    """The first supported of ``candidates`` (override, link, customer), then the browser's."""
    for candidate in candidates:
        found = supported(candidate)
        if found:
            return found
    return from_accept_language(accept_language) or FALLBACK


@dataclass(frozen=True, slots=True)
class Wording:
    lang: str

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.lang)

    def __call__(self, key: str, **values: object) -> str:
        # A key missing in a translation falls back to English rather than breaking the page.
        text = _catalog(self.lang).get(key) or _catalog(FALLBACK)[key]
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in _catalog(FALLBACK)

    def money(self, minor: int, currency: str) -> str:
        code = normalize_currency(currency)
        value = Decimal(minor).scaleb(-minor_unit_exponent(code))
        # No quantization: what is owed is shown to the last minor unit, never rounded away.
        return format_currency(value, code, locale=self.locale, decimal_quantization=False)

    def day(self, day: date) -> str:
        return format_date(day, format="long", locale=self.locale)

    def language_name(self) -> str:
        return self("language_name")
