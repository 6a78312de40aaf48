"""A local Slack-compatible incoming webhook: records every JSON body POSTed to it; answers as
programmed (200 by default)."""

from __future__ import annotations

import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


class ChatSink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.posts: list[dict[str, Any]] = []
        self.status = 200

    def reset(self) -> None:
        with self._lock:
            self.posts.clear()
            self.status = 200

    async def receive(self, request: Request) -> PlainTextResponse:
        body = await request.json()
        with self._lock:
            if self.status == 200:
                self.posts.append(body)
            status = self.status
        return PlainTextResponse("ok" if status == 200 else "no_service", status_code=status)


def create_app(sink: ChatSink) -> Starlette:
    return Starlette(routes=[Route("/services/T000/B000/XXXX", sink.receive, methods=["POST"])])
