"""localstripe (PyPI), an independent fake Stripe, as a subprocess on a free loopback port, with
factories that create its objects over plain HTTP and a sink that catches the webhooks it signs.

It runs out of process because importing it registers plain-function aiohttp handlers, which
aiohttp answers with a DeprecationWarning that ``filterwarnings = error`` would turn fatal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dunning.common.embedded import _die_with_parent, free_port

API_KEY = "sk_test_localstripe_peer"

# Its test instruments, as its source (resources.py, PaymentMethod) defines them.
GOOD_CARD = "4242424242424242"
# Attaches, then every charge fails with code card_declined (and no issuer decline_code).
CHARGE_DECLINED_CARD = "4000000000000341"
# A SEPA debit that is accepted, then fails asynchronously about half a second later.
FAILING_IBAN = "DE62370400440532013001"


@contextlib.contextmanager
def run_localstripe(log_path: Path, *, start_timeout: float = 30.0) -> Iterator[str]:
    """Start localstripe, yield its base URL once it answers an authenticated request, stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            # -P: keep tests/support/ off sys.path, so its modules cannot shadow what localstripe imports.
            [sys.executable, "-P", __file__, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        try:
            _wait_until_ready(process, url, start_timeout, log_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, auth=(API_KEY, ""), timeout=2.0) as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {process.returncode}: {log_path.read_text()}")
            try:
                if http.get("/v1/customers").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"localstripe did not answer on {url} within {timeout}s")
            time.sleep(0.05)


class LocalStripe:
    """Objects created in localstripe the way a platform would, through its HTTP API."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, path: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.http.post(path, data=form or {})
        response.raise_for_status()
        return dict(response.json())

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.http.get(path)
        response.raise_for_status()
        return dict(response.json())

    async def customer(self, *, email: str = "jenny@example.com") -> str:
        return str((await self.post("/v1/customers", {"email": email}))["id"])

    async def card(
        self, customer_id: str, *, number: str = GOOD_CARD, exp: tuple[int, int] = (12, 2030)
    ) -> str:
        card = {"number": number, "exp_month": str(exp[0]), "exp_year": str(exp[1]), "cvc": "123"}
        method = await self.post(
            "/v1/payment_methods", {"type": "card", **{f"card[{k}]": v for k, v in card.items()}}
        )
        await self.post(f"/v1/payment_methods/{method['id']}/attach", {"customer": customer_id})
        return str(method["id"])

    async def sepa_debit(self, customer_id: str, *, iban: str) -> str:
        method = await self.post("/v1/payment_methods", {"type": "sepa_debit", "sepa_debit[iban]": iban})
        await self.post(f"/v1/payment_methods/{method['id']}/attach", {"customer": customer_id})
        return str(method["id"])

    async def make_default(self, customer_id: str, method_id: str) -> None:
        await self.post(
            f"/v1/customers/{customer_id}", {"invoice_settings[default_payment_method]": method_id}
        )

    async def subscription(self, customer_id: str, *, amount: int, currency: str) -> dict[str, Any]:
        """A monthly subscription; localstripe invoices and charges its first period at once."""
        plan = await self.post(
            "/v1/plans",
            {"amount": str(amount), "currency": currency, "interval": "month", "product[name]": "Pro"},
        )
        return await self.post("/v1/subscriptions", {"customer": customer_id, "items[0][plan]": plan["id"]})

    async def lacks(self, method: str, path: str, form: dict[str, str] | None = None) -> str | None:
        """Why localstripe cannot serve ``method path`` with these parameters; None if it can.

        What it implements answers JSON, its errors included; a missing route is aiohttp's
        plain-text 404, and a handler that does not take a parameter crashes with a plain 500.
        """
        response = await self.http.request(method, path, data=form)
        if response.headers.get("content-type", "").startswith("application/json"):
            return None
        if response.status_code == 404:
            return f"localstripe has no route for {method} {path}"
        return f"localstripe answers {method} {path} with {sorted(form or {})} by HTTP {response.status_code}"


@dataclass(frozen=True)
class CaughtWebhook:
    body: bytes
    headers: dict[str, str]


class WebhookCatcher:
    """An HTTPS-less webhook endpoint for localstripe to deliver to; the test takes what arrived."""

    def __init__(self) -> None:
        self._caught: queue.Queue[CaughtWebhook] = queue.Queue()
        self.app = Starlette(routes=[Route("/hook", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        self._caught.put(CaughtWebhook(await request.body(), dict(request.headers)))
        return Response(status_code=200)

    async def next(self, timeout: float = 15.0) -> CaughtWebhook:
        """The next delivery; localstripe waits a second before it sends each one."""
        try:
            return await asyncio.to_thread(self._caught.get, timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no webhook from localstripe within {timeout}s") from None


def _serve(port: int) -> None:
    from aiohttp import web
    from localstripe import resources, server

    # localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle after every
    # write; two instances on one box (parallel CI jobs) would share it, so keep it in memory.
    resources.Store.dump_to_disk = lambda _self: None
    # Its own CLI binds '::' only, which fails on hosts without IPv6.
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    _serve(parser.parse_args().port)
