"""The retry service's door to the processor: Stripe through the official SDK, async.

Declines are outcomes, not errors. Rate limits (429), processor errors (5xx) and network
failures are retried with jittered exponential backoff; every charge carries an idempotency
key, so a retry — ours or a restarted process's — can never charge twice. A token bucket per
processor key keeps one process under Stripe's write limits (live 100/s, test 25/s); with N
replicas, set the rates to 1/N of that (a shared limiter is future work).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import stripe
from stripe.params import CustomerPaymentMethodListParams, InvoicePayParams
from stripe.params.billing_portal import SessionCreateParams
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from dunning.common.tenancy.service import ProcessorCredentials
from dunning.retry.domain.methods import StoredMethod

T = TypeVar("T")

_TRANSIENT = (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError)


_MAX_METHOD_PAGES = 10


def _is_transient(exc: BaseException) -> bool:
    """429, 5xx and network errors. The SDK also raises APIError for a 4xx it cannot parse (a
    plain-text 404 from a wrong API base): that is a refusal, and retrying it forever hides it."""
    if isinstance(exc, stripe.APIError) and not isinstance(exc, stripe.RateLimitError):
        status = exc.http_status
        if status is not None and 400 <= status < 500:
            return False
    return isinstance(exc, _TRANSIENT)


class ProcessorUnavailable(Exception):
    """The processor could not be reached or kept refusing for capacity; try the attempt later."""


class ProcessorRefused(Exception):
    """A request the processor will never accept as sent (not a card decline)."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class InvoiceSnapshot:
    id: str
    status: str  # draft | open | paid | uncollectible | void
    amount_remaining: int
    currency: str
    customer_id: str | None
    subscription_id: str | None
    default_payment_method_id: str | None


@dataclass(frozen=True, slots=True)
class ChargeResult:
    succeeded: bool
    payment_intent_id: str | None = None
    charge_id: str | None = None
    decline_code: str | None = None
    failure_code: str | None = None
    advice_code: str | None = None
    network_advice_code: str | None = None
    message: str | None = None
    # Accepted but not final (a bank debit in flight): neither paid nor declined yet; the
    # processor's invoice.paid or payment_failed event settles it.
    processing: bool = False


class TokenBucket:
    """At most ``rate`` requests per second on average, bursts up to ``rate``."""

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = rate
        self._tokens = rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._at = monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = self._monotonic()
                self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await self._sleep((1 - self._tokens) / self._rate)


class StripeGateway:
    def __init__(
        self,
        *,
        api_base: str | None = None,
        live_rate: float = 100.0,
        test_rate: float = 25.0,
        attempts: int = 5,
        max_wait: float = 8.0,
    ) -> None:
        self._api_base = api_base
        self._rates = {True: live_rate, False: test_rate}
        self._attempts = attempts
        self._max_wait = max_wait
        self._clients: dict[tuple[str, str | None], stripe.StripeClient] = {}
        self._http: list[stripe.HTTPXClient] = []
        self._buckets: dict[str, TokenBucket] = {}

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
                max_network_retries=0,  # ours below: one policy, with jitter, observable in tests
            )
        return self._clients[key]

    async def _call(self, creds: ProcessorCredentials, request: Callable[[], Awaitable[T]]) -> T:
        bucket = self._buckets.setdefault(creds.api_key, TokenBucket(self._rates[creds.livemode]))
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_is_transient),
                wait=wait_random_exponential(multiplier=0.2, max=self._max_wait),
                stop=stop_after_attempt(self._attempts),
                reraise=True,
            ):
                with attempt:
                    await bucket.take()
                    return await request()
        except _TRANSIENT as exc:
            if not _is_transient(exc):
                raise ProcessorRefused(
                    f"HTTP {exc.http_status}: {exc.user_message or exc}", exc.code
                ) from exc
            raise ProcessorUnavailable(f"{type(exc).__name__}: {exc.user_message or exc}") from exc
        except (
            stripe.InvalidRequestError,
            stripe.AuthenticationError,
            stripe.PermissionError,
            # The same key with other parameters: a bug of ours, never a reason to charge again.
            stripe.IdempotencyError,
        ) as exc:
            raise ProcessorRefused(str(exc.user_message or exc), exc.code) from exc
        raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying returns or raises

    async def invoice(
        self, creds: ProcessorCredentials, invoice_id: str, account: str | None
    ) -> InvoiceSnapshot:
        client = self._client(creds, account)
        invoice = (await self._call(creds, lambda: client.v1.invoices.retrieve_async(invoice_id))).to_dict()
        customer_default: str | None = None
        default = _id(invoice.get("default_payment_method"))
        customer_id = _id(invoice.get("customer"))
        if default is None and customer_id is not None:
            customer = (
                await self._call(creds, lambda: client.v1.customers.retrieve_async(customer_id))
            ).to_dict()
            settings = customer.get("invoice_settings") or {}
            customer_default = _id(settings.get("default_payment_method"))
        return InvoiceSnapshot(
            id=invoice["id"],
            status=str(invoice.get("status")),
            # Absent (an older or partial Stripe-compatible server): what was due, not "nothing owed".
            amount_remaining=int(
                invoice["amount_remaining"]
                if invoice.get("amount_remaining") is not None
                else invoice.get("amount_due") or 0
            ),
            currency=str(invoice.get("currency", "")).upper(),
            customer_id=customer_id,
            # API versions before 2025-03-31 name it on the invoice; later ones under parent.
            subscription_id=_id(invoice.get("subscription"))
            or _id(((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")),
            default_payment_method_id=default or customer_default,
        )

    async def stored_methods(
        self, creds: ProcessorCredentials, customer_id: str, account: str | None
    ) -> list[StoredMethod]:
        client = self._client(creds, account)
        found: list[dict[str, Any]] = []
        after: str | None = None
        # Page by page (Stripe's maximum is 100): a customer with more stored methods is rare,
        # and its newest ones are the likeliest to work. Bounded, so a buggy server cannot loop.
        for _ in range(_MAX_METHOD_PAGES):
            page_params: CustomerPaymentMethodListParams = {"limit": 100}
            if after:
                page_params["starting_after"] = after
            listing = await self._call(
                creds,
                partial(client.v1.customers.payment_methods.list_async, customer_id, params=page_params),
            )
            found += [item.to_dict() for item in listing.data]
            if not listing.has_more or not listing.data:
                break
            after = found[-1]["id"]
        customer = (
            await self._call(creds, lambda: client.v1.customers.retrieve_async(customer_id))
        ).to_dict()
        default = _id((customer.get("invoice_settings") or {}).get("default_payment_method"))
        methods = []
        for pm in found:
            card = pm.get("card") or {}
            methods.append(
                StoredMethod(
                    id=pm["id"],
                    kind=str(pm.get("type", "card")),
                    brand=card.get("brand"),
                    exp_month=card.get("exp_month"),
                    exp_year=card.get("exp_year"),
                    last4=card.get("last4"),
                    is_default=pm["id"] == default,
                    created=datetime.fromtimestamp(int(pm.get("created") or 0), UTC),
                )
            )
        return methods

    async def pay(
        self,
        creds: ProcessorCredentials,
        invoice_id: str,
        *,
        payment_method_id: str | None,
        idempotency_key: str,
        account: str | None,
    ) -> ChargeResult:
        """Charge the invoice once per ``idempotency_key``, however often this is called."""
        client = self._client(creds, account)
        # payments: on API versions from 2025-03-31 the invoice names its PaymentIntent only there.
        params: InvoicePayParams = {"off_session": True, "expand": ["payments"]}
        if payment_method_id:
            params["payment_method"] = payment_method_id
        try:
            paid = await self._call(
                creds,
                lambda: client.v1.invoices.pay_async(
                    invoice_id, params=params, options={"idempotency_key": idempotency_key}
                ),
            )
        except stripe.CardError as exc:
            return _declined(exc)
        invoice = paid.to_dict()
        succeeded = invoice.get("status") == "paid"
        return ChargeResult(
            succeeded=succeeded, payment_intent_id=_intent_of(invoice), processing=not succeeded
        )

    async def mark_uncollectible(
        self, creds: ProcessorCredentials, invoice_id: str, account: str | None
    ) -> None:
        client = self._client(creds, account)
        await self._call(creds, lambda: client.v1.invoices.mark_uncollectible_async(invoice_id))

    async def cancel_subscription(
        self, creds: ProcessorCredentials, subscription_id: str, account: str | None
    ) -> None:
        client = self._client(creds, account)
        await self._call(creds, lambda: client.v1.subscriptions.cancel_async(subscription_id))

    async def billing_portal_url(
        self,
        creds: ProcessorCredentials,
        customer_id: str,
        *,
        return_url: str,
        locale: str | None,
        account: str | None,
    ) -> str:
        """A one-time link to the processor's hosted page where the customer changes how they pay."""
        client = self._client(creds, account)
        params: SessionCreateParams = {"customer": customer_id, "return_url": return_url}
        if locale:
            params["locale"] = locale
        session = await self._call(creds, lambda: client.v1.billing_portal.sessions.create_async(params))
        return str(session.url)


def _declined(exc: stripe.CardError) -> ChargeResult:
    error = exc.error
    intent = getattr(error, "payment_intent", None) if error is not None else None
    charge = getattr(error, "charge", None) if error is not None else None
    return ChargeResult(
        succeeded=False,
        payment_intent_id=_id(intent),
        charge_id=_id(charge),
        decline_code=getattr(error, "decline_code", None),
        failure_code=exc.code,
        advice_code=getattr(error, "advice_code", None),
        network_advice_code=getattr(error, "network_advice_code", None),
        message=str(exc.user_message or exc),
    )


def _intent_of(invoice: dict[str, Any]) -> str | None:
    """The invoice's PaymentIntent: a field before API version 2025-03-31, the newest entry of
    its ``payments`` list after (present when expanded)."""
    direct = _id(invoice.get("payment_intent"))
    if direct is not None:
        return direct
    payments = (invoice.get("payments") or {}).get("data") or []
    for entry in payments:
        payment = entry.get("payment") or {}
        found = _id(payment.get("payment_intent"))
        if found is not None:
            return found
    return None


def _id(value: Any) -> str | None:
    """Stripe gives either an id or the expanded object; we want the id."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    # A plain dict (to_dict()) or an SDK StripeObject (error payloads keep those).
    found = value.get("id") if isinstance(value, dict) else getattr(value, "id", None)
    return str(found) if found else None
