"""The Jinja2 sandbox tenant templates run in: immutable, strict about names, bounded in size."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any, Final

from babel import Locale
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dunning.notify.content.formatting import format_day, format_money

# Big enough for any honest message; small enough that "x" * 10**9 cannot take the service down.
MAX_SEQUENCE_LENGTH: Final = 100_000
MAX_EXPONENT: Final = 100


class MessageSandbox(ImmutableSandboxedEnvironment):
    """The stock sandbox plus limits on the operators that can allocate without bound."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large for a message template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    if len(seq) * times > MAX_SEQUENCE_LENGTH:
                        raise SecurityError("repetition too long for a message template")
        return super().call_binop(context, operator, left, right)


def _none_as_empty(value: Any) -> Any:
    # An optional fact a template prints unguarded should vanish, not read "None" to a customer.
    return "" if value is None else value


@lru_cache(maxsize=64)
def message_environment(locale: Locale, *, html: bool) -> MessageSandbox:
    """One environment per locale and escaping mode; cached because building one is not free."""
    env = MessageSandbox(
        autoescape=html,
        undefined=StrictUndefined,
        finalize=_none_as_empty,
    )

    def money(minor: int, currency: str) -> str:
        return format_money(minor, currency, locale)

    def day(value: date, width: str = "medium") -> str:
        return format_day(value, locale, width)

    env.filters["money"] = money
    env.filters["date"] = day
    return env
