"""Stripe's idempotency layer: the first answer under a key is saved and replayed for 24 hours."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.support.stripe_fake.errors import idempotency_key_in_use, idempotency_mismatch, invalid_param

TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255
# Keys are scoped per platform account and per connected account acted on (Stripe-Account).
Scope = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class SavedResponse:
    method: str
    path: str
    params: list[tuple[str, str]]
    status: int
    body: bytes
    headers: dict[str, str]
    request_id: str
    saved_at: float


class IdempotencyStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._saved: dict[tuple[Scope, str], SavedResponse] = {}
        self._in_flight: set[tuple[Scope, str]] = set()

    def clear(self) -> None:
        self._saved.clear()
        self._in_flight.clear()

    def begin(
        self, scope: Scope, key: str, method: str, path: str, params: list[tuple[str, str]]
    ) -> SavedResponse | None:
        """The saved answer to replay; or None, with the key now marked in flight.

        Raises the idempotency_error Stripe gives for a key reused on another endpoint or with
        other parameters, and 409 while the first request under the key is still running.
        """
        if not key or len(key) > MAX_KEY_LENGTH:
            raise invalid_param(
                f"Idempotency keys must be 1 to {MAX_KEY_LENGTH} characters long", param="Idempotency-Key"
            )
        slot = (scope, key)
        saved = self._saved.get(slot)
        if saved is not None and self._clock() - saved.saved_at > TTL_SECONDS:
            del self._saved[slot]
            saved = None
        if saved is not None:
            if (saved.method, saved.path) != (method, path):
                raise idempotency_mismatch(key, endpoint=(saved.path, path))
            if saved.params != params:
                raise idempotency_mismatch(key)
            return saved
        if slot in self._in_flight:
            raise idempotency_key_in_use(key)
        self._in_flight.add(slot)
        return None

    def finish(self, scope: Scope, key: str, saved: SavedResponse | None) -> None:
        """Release the key; keep ``saved`` when the endpoint had started executing."""
        self._in_flight.discard((scope, key))
        if saved is not None:
            self._saved[(scope, key)] = saved
