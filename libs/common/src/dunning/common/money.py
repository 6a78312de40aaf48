"""Money is an integer count of the currency's minor unit plus its ISO 4217 code; never a float."""

from __future__ import annotations

from dataclasses import dataclass

# ISO 4217 currencies whose minor unit is not 1/100. Stripe's amounts follow the same table
# (https://stripe.com/docs/currencies#zero-decimal), so a processor amount maps 1:1.
ZERO_DECIMAL_CURRENCIES = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
THREE_DECIMAL_CURRENCIES = frozenset("BHD IQD JOD KWD LYD OMR TND".split())


def minor_unit_exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def normalize_currency(currency: str) -> str:
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    return code


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount is an integer number of minor units")
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)
