"""Programmed misbehaviour of the API: injected 429/5xx answers, latency, and Stripe's rate limiter."""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tests.support.stripe_fake.errors import StripeApiError, api_error, rate_limited

FaultKind = Literal["rate_limit", "lock_timeout", "api_error", "unavailable"]


class Fault(BaseModel):
    """The next ``count`` matching requests (None: until cleared) answer this error.

    ``after_execution``: the request is executed (a charge happens, its result is saved under the
    idempotency key) and only then answered with the fault, like a response lost on the way back.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind = "api_error"
    count: int | None = Field(default=1, ge=1)
    probability: float = Field(default=1.0, gt=0.0, le=1.0)
    path_prefix: str = "/v1/"
    method: str | None = None
    account: str | None = None
    should_retry: bool | None = None
    after_execution: bool = False

    def matches(self, method: str, path: str, account: str | None) -> bool:
        return (
            path.startswith(self.path_prefix)
            and (self.method is None or self.method.upper() == method)
            and (self.account is None or self.account == account)
        )

    def error(self) -> StripeApiError:
        if self.kind in ("rate_limit", "lock_timeout"):
            return rate_limited(lock_timeout=self.kind == "lock_timeout", should_retry=self.should_retry)
        return api_error(500 if self.kind == "api_error" else 503, should_retry=self.should_retry)


class Latency(BaseModel):
    """Each matching request waits ``fixed`` seconds plus a seeded uniform draw in ``[0, jitter]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fixed: float = Field(default=0.0, ge=0.0)
    jitter: float = Field(default=0.0, ge=0.0)
    path_prefix: str = "/v1/"
    seed: int = 0


class RateLimit(BaseModel):
    """Requests per second per account; Stripe allows 25 reads and 25 writes per second in test mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    writes_per_second: int | None = Field(default=25, ge=1)
    reads_per_second: int | None = Field(default=None, ge=1)


@dataclass(slots=True)
class _Armed:
    fault: Fault
    remaining: int | None


class Traffic:
    """Consulted once per API request, under the state lock."""

    def __init__(self, *, seed: int = 0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        self._faults: list[_Armed] = []
        self._fault_rng = random.Random(self._seed)
        self.latency = Latency()
        self._latency_rng = random.Random(0)
        self.rate_limit: RateLimit | None = None
        self._windows: dict[tuple[str | None, bool], deque[float]] = {}

    def inject(self, fault: Fault) -> None:
        self._faults.append(_Armed(fault, fault.count))

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_latency(self, latency: Latency) -> None:
        self.latency = latency
        self._latency_rng = random.Random(latency.seed)

    def take_fault(self, method: str, path: str, account: str | None) -> Fault | None:
        """The first armed fault this request triggers, spending one of its count."""
        for armed in self._faults:
            if not armed.fault.matches(method, path, account):
                continue
            if armed.fault.probability < 1.0 and self._fault_rng.random() >= armed.fault.probability:
                continue
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining <= 0:
                    self._faults.remove(armed)
            return armed.fault
        return None

    def delay(self, path: str) -> float:
        latency = self.latency
        if not path.startswith(latency.path_prefix) or (latency.fixed == 0 and latency.jitter == 0):
            return 0.0
        return latency.fixed + self._latency_rng.uniform(0.0, latency.jitter)

    def throttled(self, method: str, account: str | None) -> bool:
        """Sliding one-second window per account and direction; a refused request does not count."""
        if self.rate_limit is None:
            return False
        write = method not in ("GET", "HEAD")
        limit = self.rate_limit.writes_per_second if write else self.rate_limit.reads_per_second
        if limit is None:
            return False
        now = self._monotonic()
        window = self._windows.setdefault((account, write), deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False
