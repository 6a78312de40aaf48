"""The per-key token bucket: a burst goes through, then requests at the configured rate."""

from __future__ import annotations

import pytest

from dunning.common.ratelimit import KeyRateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_next_request_waits_for_one_token() -> None:
    clock = FakeClock()
    limiter = KeyRateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("key_a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("key_a") == pytest.approx(0.5)  # one token per half second
    clock.now += 0.5
    assert limiter.acquire("key_a") == 0.0
    assert limiter.acquire("key_a") > 0


def test_keys_have_separate_buckets() -> None:
    limiter = KeyRateLimiter(rate=1.0, burst=1, clock=FakeClock())
    assert limiter.acquire("key_a") == 0.0
    assert limiter.acquire("key_a") > 0
    assert limiter.acquire("key_b") == 0.0


def test_an_idle_key_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = KeyRateLimiter(rate=10.0, burst=2, clock=clock)
    limiter.acquire("key_a")
    clock.now += 3600
    assert [limiter.acquire("key_a") for _ in range(3)][-1] > 0


def test_refused_requests_do_not_spend_tokens() -> None:
    clock = FakeClock()
    limiter = KeyRateLimiter(rate=1.0, burst=1, clock=clock)
    limiter.acquire("key_a")
    for _ in range(50):
        limiter.acquire("key_a")  # a client hammering while limited
    clock.now += 1.0
    assert limiter.acquire("key_a") == 0.0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        KeyRateLimiter(rate=0, burst=1)
