"""Signed unsubscribe tokens: a link in a message names the delivery it came with, and only we
can make one. The key is derived from the service's secret key, so nothing new to configure."""

from __future__ import annotations

import base64
import hashlib
import hmac

_CONTEXT = b"dunning-notify-unsubscribe-v1"


class UnsubscribeTokens:
    def __init__(self, secret_key: str) -> None:
        # The first of possibly several rotation keys signs. Rotating DUNNING_SECRET_KEY therefore
        # invalidates links already sent (they answer 404); the next message carries a new one.
        first = secret_key.split(",")[0].strip().encode()
        self._key = hmac.new(first, _CONTEXT, hashlib.sha256).digest()

    def make(self, delivery_id: str) -> str:
        return f"{delivery_id}.{self._mac(delivery_id)}"

    def open(self, token: str) -> str | None:
        """The delivery id the token was made for, or None if it is not one of ours."""
        delivery_id, _, mac = token.rpartition(".")
        if not delivery_id or len(token) > 200:
            return None
        return delivery_id if hmac.compare_digest(mac, self._mac(delivery_id)) else None

    def _mac(self, delivery_id: str) -> str:
        digest = hmac.new(self._key, delivery_id.encode(), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
