"""Contact details from the processor's customer object (email, phone, preferred locales,
address) through the official ``stripe`` SDK, async. The platform's own overrides still win."""

from __future__ import annotations

from typing import Any

import stripe
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from dunning.common.tenancy.service import ProcessorCredentials

log = structlog.get_logger(__name__)

_TRANSIENT = (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError)


class StripeCustomers:
    """One SDK client per (key, connected account), closed with the service."""

    def __init__(self, *, api_base: str | None = None, attempts: int = 3, max_wait: float = 4.0) -> None:
        self._api_base = api_base
        self._attempts = attempts
        self._max_wait = max_wait
        self._clients: dict[tuple[str, str | None], stripe.StripeClient] = {}
        self._http: list[stripe.HTTPXClient] = []

    async def close(self) -> None:
        for http in self._http:
            await http.close_async()  # type: ignore[no-untyped-call]
        self._http.clear()
        self._clients.clear()

    def _client(self, creds: ProcessorCredentials, account: str | None) -> stripe.StripeClient:
        key = (creds.api_key, account)
        if key not in self._clients:
            http = stripe.HTTPXClient(allow_sync_methods=False)
            self._http.append(http)
            self._clients[key] = stripe.StripeClient(
                creds.api_key,
                stripe_account=account,
                base_addresses={"api": self._api_base} if self._api_base else None,
                http_client=http,
                max_network_retries=0,
            )
        return self._clients[key]

    async def contact(
        self, creds: ProcessorCredentials, customer_id: str, account: str | None
    ) -> dict[str, Any] | None:
        """The customer's contact layer, or None when the processor could not say (we try later)."""
        client = self._client(creds, account)
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_TRANSIENT),
                wait=wait_random_exponential(multiplier=0.2, max=self._max_wait),
                stop=stop_after_attempt(self._attempts),
                reraise=True,
            ):
                with attempt:
                    found = (await client.v1.customers.retrieve_async(customer_id)).to_dict()
        except stripe.StripeError as exc:
            # A deleted customer or a revoked key must not stop the message: the event's details
            # are still there. Logged without the key or any customer detail.
            log.warning("customer lookup failed", customer=customer_id, error=type(exc).__name__)
            return None
        if found.get("deleted"):
            return {}
        address = found.get("address") or {}
        return {
            "email": found.get("email"),
            "phone": found.get("phone"),
            "name": found.get("name"),
            "preferred_locales": list(found.get("preferred_locales") or []) or None,
            "country": address.get("country"),
            "region": address.get("state"),
        }
