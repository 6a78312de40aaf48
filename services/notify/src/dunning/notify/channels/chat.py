"""A chat message to the tenant's team through a Slack-compatible incoming webhook
(``POST {"text": ...}``; Slack, Mattermost, Rocket.Chat and Teams' Slack connector read it)."""

from __future__ import annotations

import json

import httpx

from dunning.common.clock import Clock, SystemClock
from dunning.notify.channels.errors import DeliveryError
from dunning.notify.channels.webhooks import RETRYABLE_4XX, post_once

USER_AGENT = "Dunning-Chat/1"


class ChatSender:
    """POSTs one message; never follows redirects (the URL is the tenant's, the body internal)."""

    def __init__(
        self, client: httpx.AsyncClient | None = None, timeout: float = 10.0, *, clock: Clock | None = None
    ) -> None:
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._clock = clock or SystemClock()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def send(self, url: str, text: str) -> int:
        """Returns the 2xx status. Raises DeliveryError for anything else."""
        body = json.dumps({"text": text}, ensure_ascii=False).encode()
        headers = {"content-type": "application/json", "user-agent": USER_AGENT}
        status, retry_after = await post_once(
            self._client, url, body, headers, timeout=self._timeout, clock=self._clock, what="chat webhook"
        )
        if 200 <= status < 300:
            return status
        transient = status in RETRYABLE_4XX or status >= 500
        # Slack answers 404/410 for a revoked webhook and 400 for a bad payload: asking again
        # gets the same answer.
        raise DeliveryError(
            f"chat webhook answered {status}",
            permanent=not transient,
            code=f"http_{status}",
            retry_after=retry_after if transient else None,
        )
