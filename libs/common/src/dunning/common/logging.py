"""Structured JSON logs (structlog) with request-scoped context; never secrets or card data."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are never logged, wherever they appear in an event dict.
_REDACTED_KEYS = frozenset(
    {"secret", "api_key", "authorization", "password", "stripe_signature", "card", "number", "cvc"}
)


# Key names that say "secret" wherever they are in the name (smtp_password, webhook_secret...).
_SECRET_IN_NAME = re.compile(r"secret|password|passwd|token|api_?key|authorization|signature", re.I)
# Secret-shaped text anywhere in a value, an error message or a traceback: processor keys, our
# API keys, webhook signing secrets, a URL's password, and digit runs as long as a card number.
_SECRET_SHAPES = (
    (re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+"), "[redacted-key]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), "[redacted-secret]"),
    (re.compile(r"\bdk_[A-Za-z0-9_-]{8,}"), "[redacted-key]"),
    (re.compile(r"(?<=://)([^/@\s:]*):[^/@\s]*@"), r"\1:[redacted]@"),
)
# A card number: 13 to 19 digits (spaces or dashes between) that pass the Luhn check.
_PAN_SHAPED = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _mask_pan(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    return "[redacted-number]" if _luhn(digits) else match.group()


def scrub(text: str) -> str:
    """``text`` with every secret-shaped substring replaced."""
    for pattern, replacement in _SECRET_SHAPES:
        text = pattern.sub(replacement, text)
    return _PAN_SHAPED.sub(_mask_pan, text)


def _clean(key: str, value: Any) -> Any:
    if key.lower() in _REDACTED_KEYS or _SECRET_IN_NAME.search(key):
        return "[redacted]"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean("", v) for v in value]
    return value


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key in ("exc_info", "stack_info") and not isinstance(event[key], str):
            continue  # rendered (then scrubbed) by format_exc_info below
        event[key] = _clean(key, event[key])
    return event


def _scrub_rendered(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Tracebacks exist only after format_exc_info: scrub their text as well.
    for key in ("exception", "stack"):
        if isinstance(event.get(key), str):
            event[key] = scrub(event[key])
    return event


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info,
        _scrub_rendered,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries log through the standard library; keep them quiet and on the same stream.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
