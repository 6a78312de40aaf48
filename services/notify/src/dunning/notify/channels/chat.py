"""A chat message to the tenant's team through a Slack-compatible incoming webhook
(``POST {"text": ...}``; Slack, Mattermost, Rocket.Chat and Teams' Slack connector read it)."""

from __future__ import annotations

import json

import httpx

from dunning.common.clock import Clock, SystemClock
from dunning.notify.channels.errors import DeliveryError, retry_after_seconds

USER_AGENT = "Dunning-Chat/1"
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


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
        try:
            async with self._client.stream(
                "POST", url, content=body, headers=headers, timeout=self._timeout, follow_redirects=False
            ) as response:
                status = response.status_code
                retry_after = retry_after_seconds(response.headers.get("retry-after"), now=self._clock.now())
        except httpx.TimeoutException as exc:
            raise DeliveryError("chat webhook timed out", permanent=False, code="timeout") from exc
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"chat webhook unreachable: {type(exc).__name__}", permanent=False, code="connection"
            ) from exc
        if 200 <= status < 300:
            return status
        transient = status in _RETRYABLE_4XX or status >= 500
        # Slack answers 404/410 for a revoked webhook and 400 for a bad payload: asking again
        # gets the same answer.
        raise DeliveryError(
            f"chat webhook answered {status}",
            permanent=not transient,
            code=f"http_{status}",
            retry_after=retry_after if transient else None,
        )
