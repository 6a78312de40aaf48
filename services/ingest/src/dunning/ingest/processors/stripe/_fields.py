"""Typed reads from Stripe JSON objects: a missing or mistyped field is a MalformedEvent naming it.

Stripe objects are read defensively because a signed body is authentic, not well-formed: a
KeyError or TypeError escaping here would be a 500 (and a retry storm) instead of a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dunning.common.clock import from_unix
from dunning.common.money import normalize_currency
from dunning.ingest.processors.base import MalformedEvent

# 9999-12-31T23:59:59Z, the last second a datetime can hold.
_MAX_UNIX_SECONDS = 253_402_300_799


class StripeFields:
    """One JSON object of a Stripe event, read field by field; ``path`` names it in errors."""

    __slots__ = ("_path", "_values")

    def __init__(self, values: Mapping[str, Any], path: str) -> None:
        self._values = values
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def has(self, key: str) -> bool:
        return self._values.get(key) is not None

    def text(self, key: str) -> str | None:
        value = self._values.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self._wrong(key, "a string")

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if not value:
            raise MalformedEvent(f"{self._path}.{key} is required (a non-empty string)")
        return value

    def integer(self, key: str) -> int | None:
        value = self._values.get(key)
        if value is None:
            return None
        # bool is an int to Python but never a number to Stripe.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self._wrong(key, "an integer")

    def count(self, key: str) -> int | None:
        value = self.integer(key)
        if value is not None and value < 0:
            raise self._wrong(key, "a non-negative integer")
        return value

    def amount(self, key: str) -> int:
        """A required amount in minor units."""
        value = self.count(key)
        if value is None:
            raise MalformedEvent(f"{self._path}.{key} is required (an amount in minor units)")
        return value

    def flag(self, key: str, *, default: bool) -> bool:
        value = self._values.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        raise self._wrong(key, "true or false")

    def currency(self, key: str) -> str:
        """A required ISO 4217 code, upper-cased (Stripe sends lower case)."""
        value = self.text(key)
        if value is None:
            raise MalformedEvent(f"{self._path}.{key} is required (an ISO 4217 currency code)")
        try:
            code = normalize_currency(value)
        except ValueError:
            raise self._wrong(key, "an ISO 4217 currency code") from None
        if not code.isascii():
            raise self._wrong(key, "an ISO 4217 currency code")
        return code

    def timestamp(self, key: str) -> datetime | None:
        value = self.integer(key)
        if value is None:
            return None
        if not 0 <= value <= _MAX_UNIX_SECONDS:
            raise self._wrong(key, "a unix timestamp")
        return from_unix(value)

    def child(self, key: str) -> StripeFields | None:
        """A nested object (``outcome``, ``card``, ``metadata``), or None when absent."""
        value = self._values.get(key)
        if value is None:
            return None
        if isinstance(value, Mapping):
            return StripeFields(value, f"{self._path}.{key}")
        raise self._wrong(key, "an object")

    def children(self, key: str) -> list[StripeFields]:
        """A list of objects, such as the ``data`` of a Stripe list."""
        value = self._values.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        items: list[StripeFields] = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self._wrong(f"{key}[{index}]", "an object")
            items.append(StripeFields(item, f"{self._path}.{key}[{index}]"))
        return items

    def expanded(self, key: str) -> StripeFields | None:
        """An expandable field's object when the sender expanded it; None for a bare ID."""
        value = self._values.get(key)
        if value is None or isinstance(value, str):
            return None
        return self.child(key)

    def reference(self, key: str) -> str | None:
        """An expandable field's ID, whether it came as ``"cus_123"`` or as the object itself."""
        value = self._values.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value or None
        if isinstance(value, Mapping):
            return StripeFields(value, f"{self._path}.{key}").required_text("id")
        raise self._wrong(key, "an ID or an expanded object")

    def _wrong(self, key: str, expected: str) -> MalformedEvent:
        return MalformedEvent(f"{self._path}.{key} must be {expected}")
