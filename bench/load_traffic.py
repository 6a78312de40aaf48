"""The load run's traffic and instruments: invoices staged at the Stripe fake, an SMTP server that
notes when each first email arrived, and a process's peak resident set."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
from tests.support.smtp_server import ReceivedMail, SmtpServer
from tests.support.stripe_fake.outcomes import always, decline

API_KEY = "sk_test_load_tenant_key"
# The fake "delivers" each event here, where nobody listens: the benchmark sends it itself, on time.
_NOWHERE = "http://127.0.0.1:9/"


def email_of(n: int) -> str:
    return f"load{n}@example.com"


def invoice_of(n: int) -> str:
    return f"in_load{n:05d}"


class TimedSmtpServer(SmtpServer):
    """The tests' SMTP server, noting when each recipient's first message was fully received."""

    def __init__(self) -> None:
        super().__init__()
        self.first_at: dict[str, float] = {}

    def record(self, mail: ReceivedMail) -> None:
        now = time.monotonic()
        for rcpt in mail.rcpt_tos:
            self.first_at.setdefault(rcpt.lower(), now)
        super().record(mail)


def peak_rss_mib(pid: int) -> float | None:
    """The process's high-water resident set (kernel-kept VmHWM: no sample can miss the peak)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


async def stage_invoices(fake: httpx.AsyncClient, count: int) -> list[bytes]:
    """Per invoice: a customer with one card that always declines (so the case stays open and
    escalates), the invoice, Stripe's own failed charge, and its ``invoice.payment_failed``."""
    declines = always(decline("insufficient_funds")).model_dump()
    events: list[bytes] = [b""] * count
    numbers = iter(range(count))

    async def control(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await fake.post(path, json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def worker() -> None:
        for n in numbers:
            customer, card, invoice = f"cus_load{n:05d}", f"pm_load{n:05d}", invoice_of(n)
            await control("/_fake/customers", {"id": customer, "email": email_of(n), "name": f"Load {n}"})
            await control(
                f"/_fake/customers/{customer}/cards", {"id": card, "behaviour": declines, "default": True}
            )
            await control(
                "/_fake/invoices",
                {"customer": customer, "id": invoice, "amount": 1000 + n, "default_payment_method": card},
            )
            paid = await fake.post(
                f"/v1/invoices/{invoice}/pay",
                data={"payment_method": card, "off_session": "true"},
                headers={"Authorization": f"Bearer {API_KEY}"},
            )
            if paid.status_code != 402:
                raise RuntimeError(f"the fake answered {paid.status_code} to a declining card: {paid.text}")
            answer = await control(
                "/_fake/webhooks",
                {"url": _NOWHERE, "secret": "unused", "type": "invoice.payment_failed", "object": invoice},
            )
            events[n] = json.dumps(answer["event"]).encode()

    await asyncio.gather(*(worker() for _ in range(8)))
    return events
