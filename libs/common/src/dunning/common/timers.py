"""The loop of a durable-timer worker: claim a round of due rows, and wait only when the round
was not full. The rows are the schedule; this loop never sleeps in place of one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from dunning.common.health import Heartbeat

log = structlog.get_logger(__name__)


async def run_rounds(
    stop: asyncio.Event,
    round_: Callable[[], Awaitable[int]],
    *,
    heartbeat: Heartbeat,
    batch: int,
    poll_interval: float,
    what: str,
) -> None:
    """Run ``round_`` (which returns how many rows it claimed) until ``stop``.

    A full round goes straight on (there may be more due); a short one waits ``poll_interval``
    or until ``stop``. A failing round (the database is away) is logged and retried: the work
    waits in its rows, nothing is lost.
    """
    while not stop.is_set():
        heartbeat.beat()
        try:
            handled = await round_()
        except Exception as exc:
            log.warning(f"{what} round failed", error=repr(exc))
            handled = 0
        if handled < batch:
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_interval)
            except TimeoutError:
                pass
