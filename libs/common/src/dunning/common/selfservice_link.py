"""Signed, expiring links to a customer's self-service page: notify makes them, retry opens them.

A link names a tenant, a case, when it expires and (optionally) the language it was sent in,
and carries an HMAC-SHA256 tag under a subkey derived from ``DUNNING_SECRET_KEY`` for this
purpose only. There is no login behind the page: holding an unexpired link is the permission.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

_CONTEXT = b"dunning-selfservice-link-v1"
_FORM_CONTEXT = b"dunning-selfservice-form-v1"
_VERSION = 1
_TAG_BYTES = 16  # 128 bits: forging one takes 2**128 guesses, online, through a rate limit
_MAX_FIELD = 255
# Longest token we ever make (three full fields): anything longer is refused before decoding.
MAX_TOKEN_CHARS = 4 * (1 + 4 + 3 * (1 + _MAX_FIELD) + _TAG_BYTES) // 3 + 4
DEFAULT_LINK_DAYS = 45


@dataclass(frozen=True, slots=True)
class SelfServiceLink:
    tenant_id: str
    case_id: str
    expires_at: datetime
    locale: str | None = None


class LinkState(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"  # not ours, tampered with, or malformed


@dataclass(frozen=True, slots=True)
class OpenedLink:
    state: LinkState
    # Present for VALID and EXPIRED (an expired link's contents are still authentic, so its
    # language can be used to say it has expired); None for INVALID.
    link: SelfServiceLink | None = None


def _subkeys(secret_key: str, context: bytes) -> list[bytes]:
    """One subkey per rotation key; a leaked link key never reveals the sealing key."""
    keys = [k.strip() for k in secret_key.split(",") if k.strip()]
    if not keys:
        raise ValueError("DUNNING_SECRET_KEY is empty")
    return [hmac.new(k.encode(), context, hashlib.sha256).digest() for k in keys]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes | None:
    if not text or len(text) > MAX_TOKEN_CHARS or not text.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Only the canonical spelling: a changed padding bit in the last character decodes to the
    # same bytes, and a token that was altered must never open.
    return raw if _b64(raw) == text else None


class SelfServiceLinks:
    """Makes and opens link tokens. The first rotation key signs; any of them verifies, so
    rotating ``DUNNING_SECRET_KEY`` (new key in front) keeps links already sent working."""

    def __init__(self, secret_key: str) -> None:
        self._keys = _subkeys(secret_key, _CONTEXT)
        self._form_keys = _subkeys(secret_key, _FORM_CONTEXT)

    def make(
        self,
        *,
        tenant_id: str,
        case_id: str,
        now: datetime,
        days: int = DEFAULT_LINK_DAYS,
        locale: str | None = None,
    ) -> str:
        if days < 1:
            raise ValueError("a self-service link lives at least one day")
        expires = int((now + timedelta(days=days)).timestamp())
        body = bytes([_VERSION]) + struct.pack(">I", expires)
        for field in (tenant_id, case_id, locale or ""):
            raw = field.encode()
            if len(raw) > _MAX_FIELD:
                raise ValueError("a self-service link field is longer than 255 bytes")
            body += bytes([len(raw)]) + raw
        return _b64(body + self._tag(self._keys[0], body))

    def open(self, token: str, *, now: datetime) -> OpenedLink:
        raw = _unb64(token)
        if raw is None or len(raw) <= _TAG_BYTES:
            return OpenedLink(LinkState.INVALID)
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        # Every key is checked, whatever matched: the time taken says nothing about which one.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(tag, self._tag(key, body))
        if not matched:
            return OpenedLink(LinkState.INVALID)
        link = _parse(body)
        if link is None:
            return OpenedLink(LinkState.INVALID)
        if now >= link.expires_at:
            return OpenedLink(LinkState.EXPIRED, link)
        return OpenedLink(LinkState.VALID, link)

    def form_token(self, link_token: str, form: str, state: str) -> str:
        """What a form on the page carries: bound to this link, this form and the case's state
        as shown, so a form sent again after the state changed (a replay) is refused."""
        message = "\x1f".join((link_token, form, state)).encode()
        return _b64(self._tag(self._form_keys[0], message))

    def form_token_valid(self, given: str, link_token: str, form: str, state: str) -> bool:
        message = "\x1f".join((link_token, form, state)).encode()
        given_raw = given.encode("ascii", "replace")
        ok = False
        for key in self._form_keys:
            ok |= hmac.compare_digest(given_raw, _b64(self._tag(key, message)).encode())
        return ok

    @staticmethod
    def _tag(key: bytes, body: bytes) -> bytes:
        return hmac.new(key, body, hashlib.sha256).digest()[:_TAG_BYTES]


def _parse(body: bytes) -> SelfServiceLink | None:
    if len(body) < 5 or body[0] != _VERSION:
        return None
    (expires,) = struct.unpack(">I", body[1:5])
    fields: list[str] = []
    at = 5
    for _ in range(3):
        if at >= len(body):
            return None
        size = body[at]
        chunk = body[at + 1 : at + 1 + size]
        if len(chunk) != size:
            return None
        try:
            fields.append(chunk.decode())
        except UnicodeDecodeError:
            return None
        at += 1 + size
    if at != len(body) or not fields[0] or not fields[1]:
        return None
    return SelfServiceLink(
        tenant_id=fields[0],
        case_id=fields[1],
        expires_at=datetime.fromtimestamp(expires, UTC),
        locale=fields[2] or None,
    )


def self_service_url(public_base: str, token: str) -> str:
    return f"{public_base.rstrip('/')}/pay/{token}"
