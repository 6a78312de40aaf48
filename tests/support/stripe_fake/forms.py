"""Stripe's form encoding read back: ``a[b][c]=v``, ``expand[]=x`` and the SDK's ``expand[0]=x``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from tests.support.stripe_fake.errors import StripeApiError, invalid_param, unknown_param

Params = dict[str, Any]
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
# Free-form maps whose keys may look like list indices.
_MAPS = frozenset({"metadata"})


def parse_form(encoded: str) -> Params:
    """Nested params from an urlencoded body or query string; 400 for a malformed key."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise invalid_param(f"Invalid parameter name: {key}", param=key)
        path = [match.group(1), *_SEGMENT.findall(match.group(2))]
        node = root
        for position, segment in enumerate(path):
            name = str(len(node)) if segment == "" else segment
            if position == len(path) - 1:
                if name in node:
                    raise _conflict(key)
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise _conflict(key)
                node = child
    return {name: _listify(name, value) for name, value in root.items()}


def _listify(name: str, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {key: _listify(key, child) for key, child in value.items()}
    if name not in _MAPS and items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _conflict(key: str) -> StripeApiError:
    return invalid_param(
        f"Invalid parameter: {key} is given more than once or as both a value and a hash", param=key
    )


def flat_pairs(encoded: str) -> list[tuple[str, str]]:
    """The request's parameters as sorted pairs: what two requests under one idempotency key must share."""
    return sorted(parse_qsl(encoded, keep_blank_values=True))


def as_bool(params: Params, name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value in ("true", "false"):
        return bool(value == "true")
    raise invalid_param(f"Invalid boolean: {value}", param=name)


def as_text(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is None or isinstance(value, str):
        return value
    raise invalid_param(f"Invalid string: {name} must be a string", param=name)


def as_int(params: Params, name: str, *, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise invalid_param(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")


def as_list(params: Params, name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise invalid_param(f"Invalid array: {name} must be a list of strings", param=name)


def check_known(params: Params, allowed: frozenset[str]) -> None:
    """Stripe refuses parameters it does not know, which catches typos in the caller."""
    for name in params:
        if name not in allowed:
            raise unknown_param(name)
