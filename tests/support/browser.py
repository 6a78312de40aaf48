"""The system chromium driven by Playwright (never a browser Playwright downloads), and an ASGI app
served on a real socket from the test's own event loop, so the app shares the test's database."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from dunning.cli.system import QuietServer
from dunning.common.embedded import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What this machine's chromium needs to run headless in a container; Playwright gives each launch a
# fresh profile directory of its own (the equivalent of a new --user-data-dir).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    return None


@asynccontextmanager
async def serve_in_loop(app: ASGIApp) -> AsyncIterator[str]:
    """uvicorn as a task of the running loop on a free port; stopped on exit."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"the server on port {port} did not start")
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
