"""How many SMS segments a text costs, so a tenant sees when their wording gets expensive."""

from __future__ import annotations

from typing import Final

# GSM 03.38 default alphabet (without the escape character itself) and its extension table,
# whose characters take two septets.
_GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED: Final = frozenset("^{}\\[~]|€\f")

_GSM7_SINGLE, _GSM7_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text)


def sms_segments(text: str) -> int:
    """Segments needed to send text: GSM-7 160 (153 when split), otherwise UCS-2 70 (67 when split)."""
    if not text:
        return 0
    if is_gsm7(text):
        costs = [2 if ch in _GSM7_EXTENDED else 1 for ch in text]
        single, part = _GSM7_SINGLE, _GSM7_PART
    else:
        # UCS-2 on the wire is UTF-16: characters outside the BMP (emoji) take two units.
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        single, part = _UCS2_SINGLE, _UCS2_PART
    if sum(costs) <= single:
        return 1
    # An escape pair or a surrogate pair is never split across segments, so pack greedily.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return segments
