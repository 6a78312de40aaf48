"""Secrets at rest (webhook secrets, processor API keys) sealed with Fernet; keys rotate.

``DUNNING_SECRET_KEY`` holds one or more comma-separated Fernet keys: the first seals, every
one opens, so a new key is added in front and the old one dropped after re-sealing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class InvalidSecretKey(ValueError):
    """DUNNING_SECRET_KEY is empty or not Fernet keys."""


class SecretBox:
    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise InvalidSecretKey("DUNNING_SECRET_KEY is empty")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except ValueError as exc:
            raise InvalidSecretKey(
                "DUNNING_SECRET_KEY must be Fernet keys (32 url-safe base64-encoded bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    def seal(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def open(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise ValueError("a stored secret cannot be opened with DUNNING_SECRET_KEY") from exc

    def reseal(self, token: bytes) -> bytes:
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise ValueError("a stored secret cannot be opened with DUNNING_SECRET_KEY") from exc


def load_or_create_key(path: Path) -> str:
    """The embedded mode's key: made once, kept in the data dir, readable by its owner only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def hash_token(token: str) -> str:
    """API keys are 256-bit random strings, so a plain SHA-256 is a safe, fast lookup hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
