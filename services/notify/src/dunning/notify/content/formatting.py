"""Money and dates written the way a reader in a given locale expects them (Babel, Decimal, no floats)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from dunning.common.money import minor_unit_exponent, normalize_currency


def format_money(minor: int, currency: str, locale: Locale) -> str:
    """1234 USD -> '$12.34'; 1200 JPY -> '￥1,200' in ja; 50000 KRW -> '₩50,000'."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"money is an integer number of minor units, got {minor!r}")
    code = normalize_currency(currency)
    # The exponent comes from the same ISO 4217 table the processors' amounts were read with, so
    # 1200 JPY minor units is 1200 yen. No quantization: Babel's own digits for a currency can be
    # fewer than ISO's (ISK), and a message must never round away part of what is owed.
    value = Decimal(minor).scaleb(-minor_unit_exponent(code))
    return format_currency(value, code, locale=locale, decimal_quantization=False)


def format_day(day: date, locale: Locale, width: str = "medium") -> str:
    """A calendar day in the locale's medium form: 'Mar 7, 2025', '2025/03/07', '2025. 3. 7.'."""
    if width not in ("short", "medium", "long", "full"):
        raise ValueError(f"date width must be short, medium, long or full, not {width!r}")
    return format_date(day, format=width, locale=locale)
