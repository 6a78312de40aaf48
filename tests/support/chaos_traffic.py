"""The chaos run's traffic: invoices and cards at the Stripe fake, and their webhooks delivered to
ingest like Stripe does (signed, retried until a 2xx, some twice, some out of order)."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.support.stripe_fake.outcomes import SUCCEED, CardBehaviour, always, decline, sequence

from dunning.ingest.processors.stripe.signature import sign

# Events are built by the fake and "delivered" here, where nobody listens: the run sends them
# itself, so that it can send one twice or hold one back.
_NOWHERE = "http://127.0.0.1:9/"


@dataclass
class Traffic:
    """What was sent and what ingest acknowledged."""

    sent: int = 0
    acknowledged: int = 0
    accepted: int = 0
    duplicates: int = 0
    redeliveries: int = 0
    reordered: int = 0
    transport_retries: int = 0
    gave_up: int = 0
    acked_event_ids: set[str] = field(default_factory=set)
    acked_invoices: set[str] = field(default_factory=set)


class StripeTraffic:
    def __init__(
        self,
        fake_url: str,
        ingest_urls: list[str],
        *,
        api_key: str,
        webhook_secret: str,
        rng: random.Random,
        redeliver_share: float,
        reorder_share: float,
        always_decline_share: float,
    ) -> None:
        self._fake = httpx.AsyncClient(base_url=fake_url, timeout=30)
        self._ingest = httpx.AsyncClient(timeout=10)
        self._urls = ingest_urls
        self._next_url = itertools.cycle(range(len(ingest_urls)))
        self._api_key = api_key
        self._secret = webhook_secret
        self._rng = rng
        self._redeliver_share = redeliver_share
        self._reorder_share = reorder_share
        self._decline_share = always_decline_share
        self._later: set[asyncio.Task[None]] = set()
        self.traffic = Traffic()
        self.tenant_id = ""

    async def close(self) -> None:
        await self._fake.aclose()
        await self._ingest.aclose()

    async def invoice_failure(self, n: int) -> None:
        """One invoice whose first charge (Stripe's own) failed, and its webhooks."""
        roll = self._rng.random()
        reorder = roll < self._reorder_share
        always_declines = not reorder and roll < self._reorder_share + self._decline_share
        behaviour: CardBehaviour
        if always_declines:
            behaviour = always(decline("insufficient_funds"))
        else:
            declines = 1 if reorder else self._rng.randint(1, 3)
            behaviour = sequence(*(decline("insufficient_funds") for _ in range(declines)), then=SUCCEED)
        customer = f"cus_chaos{n:05d}"
        card = f"pm_chaos{n:05d}"
        invoice = f"in_chaos{n:05d}"
        await self._control(
            "/_fake/customers", {"id": customer, "email": f"customer{n}@example.com", "name": f"C {n}"}
        )
        await self._control(
            f"/_fake/customers/{customer}/cards",
            {"id": card, "behaviour": behaviour.model_dump(), "default": True},
        )
        await self._control(
            "/_fake/invoices",
            {"customer": customer, "id": invoice, "amount": 1000 + n, "default_payment_method": card},
        )
        await self._stripe_pays(invoice, card)  # Stripe's own attempt: declined
        failed = await self._event("invoice.payment_failed", invoice)
        if reorder:
            # The customer paid before the failure's webhook arrived: Stripe orders nothing.
            await self._stripe_pays(invoice, card)
            paid = await self._event("invoice.paid", invoice)
            await self.deliver(paid)
            self.traffic.reordered += 1
        await self.deliver(failed)
        if self._rng.random() < self._redeliver_share:
            # Stripe delivers again when it did not see our 2xx in time: same event, later.
            task = asyncio.create_task(self._redeliver(failed, self._rng.uniform(0.5, 8.0)))
            self._later.add(task)
            task.add_done_callback(self._later.discard)

    async def drain(self) -> None:
        while self._later:
            await asyncio.gather(*list(self._later))

    async def _redeliver(self, event: dict[str, Any], delay: float) -> None:
        await asyncio.sleep(delay)
        self.traffic.redeliveries += 1
        await self.deliver(event)

    async def _control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._fake.post(path, json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def _stripe_pays(self, invoice: str, card: str) -> None:
        response = await self._fake.post(
            f"/v1/invoices/{invoice}/pay",
            data={"payment_method": card, "off_session": "true"},
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        if response.status_code not in (200, 402):
            raise RuntimeError(f"the fake answered {response.status_code}: {response.text}")

    async def _event(self, event_type: str, invoice: str) -> dict[str, Any]:
        answer = await self._control(
            "/_fake/webhooks", {"url": _NOWHERE, "secret": "unused", "type": event_type, "object": invoice}
        )
        event: dict[str, Any] = answer["event"]
        return event

    async def deliver(self, event: dict[str, Any], *, give_up_after: float = 180.0) -> None:
        """POST until a 2xx, on the next replica each time (Stripe retries for days)."""
        body = json.dumps(event).encode()
        deadline = time.monotonic() + give_up_after
        self.traffic.sent += 1
        while True:
            url = f"{self._urls[next(self._next_url)]}/v1/webhooks/stripe/{self.tenant_id}"
            # Signed at delivery, as Stripe signs every attempt anew.
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(body, self._secret, int(time.time())),
            }
            try:
                response = await self._ingest.post(url, content=body, headers=headers)
                if response.status_code < 300:
                    status = response.json()["status"]
                    self.traffic.acknowledged += 1
                    self.traffic.accepted += status == "accepted"
                    self.traffic.duplicates += status == "duplicate"
                    self.traffic.acked_event_ids.add(str(event["id"]))
                    self.traffic.acked_invoices.add(str(event["data"]["object"]["id"]))
                    return
                if response.status_code < 500 and response.status_code != 429:
                    raise RuntimeError(
                        f"ingest refused a valid webhook: {response.status_code} {response.text}"
                    )
            except httpx.TransportError:
                pass
            self.traffic.transport_retries += 1
            if time.monotonic() > deadline:
                self.traffic.gave_up += 1
                return
            await asyncio.sleep(0.2)
