"""Liveness (``/healthz``: the loop and its workers are alive) and readiness (``/readyz``: DB + broker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

ReadinessCheck = Callable[[], Awaitable[None]]


class Heartbeat:
    """A background worker's sign of life; stale means stuck, and liveness fails."""

    def __init__(self, name: str, *, stale_after: float) -> None:
        self.name = name
        self.stale_after = stale_after
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self._last

    def is_stale(self) -> bool:
        return self.age() > self.stale_after


class Health:
    def __init__(self) -> None:
        self.heartbeats: list[Heartbeat] = []
        self.checks: dict[str, ReadinessCheck] = {}

    def add_heartbeat(self, heartbeat: Heartbeat) -> None:
        self.heartbeats.append(heartbeat)

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    async def liveness(self, _request: Request) -> JSONResponse:
        stale = {hb.name: round(hb.age(), 1) for hb in self.heartbeats if hb.is_stale()}
        status = 503 if stale else 200
        return JSONResponse({"status": "stuck" if stale else "ok", "stale": stale}, status_code=status)

    async def readiness(self, _request: Request) -> JSONResponse:
        results: dict[str, str] = {}

        async def run(name: str, check: ReadinessCheck) -> None:
            try:
                await asyncio.wait_for(check(), timeout=3.0)
                results[name] = "ok"
            except Exception as exc:  # reported, not raised: readiness says what is down
                results[name] = f"{type(exc).__name__}: {exc}"[:200]

        await asyncio.gather(*(run(n, c) for n, c in self.checks.items()))
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )
