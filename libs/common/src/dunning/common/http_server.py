"""How every Dunning process serves HTTP: uvicorn with limits a hostile client cannot stretch.

Uvicorn bounds idle keep-alive connections but not a request that arrives a byte at a time
(slowloris): one such client per connection would hold a socket and a parser forever. The
protocol here gives each request a deadline from its first byte (or the connection's opening)
to its last; a client that misses it is disconnected.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dunning.common.settings import CommonSettings


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus a deadline for receiving each whole request (headers and body)."""

    request_read_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # A new request starts with the first byte after the previous response.
        if self._read_deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()
        super().data_received(data)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(self.request_read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, settings: CommonSettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn config of every role: our limits, our logging, no access log."""
    protocol = type(
        "RequestReadBoundedProtocol",
        (BoundedHttpToolsProtocol,),
        {"request_read_timeout": settings.http_request_read_timeout},
    )
    options: dict[str, Any] = {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_config": None,
        "access_log": False,
        "http": protocol,
        "timeout_keep_alive": settings.http_keep_alive_timeout,
        "limit_concurrency": settings.http_max_connections,
    }
    return uvicorn.Config(app, **(options | overrides))
