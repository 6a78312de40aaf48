"""``/_fake``: the Python API over JSON, for a test driver in another process (the chaos run)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from tests.support.stripe_fake.outcomes import CardBehaviour
from tests.support.stripe_fake.records import InvoiceStatus, SubscriptionStatus
from tests.support.stripe_fake.render import Renderer
from tests.support.stripe_fake.state import DEFAULT_ACCOUNT, FakeStripe
from tests.support.stripe_fake.traffic import Fault, Latency, RateLimit
from tests.support.stripe_fake.webhooks import build_event, deliver


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(_In):
    id: str | None = None
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    preferred_locales: list[str] = []
    address: dict[str, str | None] | None = None
    metadata: dict[str, str] = {}
    account: str | None = None


class CardIn(_In):
    id: str | None = None
    brand: str = "visa"
    exp_month: int = 12
    exp_year: int = 2030
    last4: str | None = None
    country: str = "US"
    funding: str = "credit"
    behaviour: CardBehaviour | None = None
    default: bool = False


class SubscriptionIn(_In):
    customer: str
    id: str | None = None
    status: SubscriptionStatus = "active"
    currency: str = "usd"
    default_payment_method: str | None = None


class InvoiceIn(_In):
    customer: str
    amount: int
    currency: str = "usd"
    id: str | None = None
    subscription: str | None = None
    status: InvoiceStatus = "open"
    default_payment_method: str | None = None
    billing_reason: str = "subscription_cycle"
    due_date: int | None = None
    metadata: dict[str, str] = {}


class ApiKeyIn(_In):
    key: str
    account: str = DEFAULT_ACCOUNT


class ConnectIn(_In):
    account: str
    platform: str = DEFAULT_ACCOUNT


class WebhookIn(_In):
    url: str
    secret: str
    type: Literal[
        "invoice.payment_failed",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "payment_intent.payment_failed",
        "charge.failed",
        "customer.subscription.deleted",
        "customer.subscription.updated",
    ]
    object: str
    api_version: str | None = None


_Action = Callable[[Request], Awaitable[Any]]


def control_routes(fake: FakeStripe) -> list[BaseRoute]:
    def shown(show: Callable[[Renderer], Any]) -> Any:
        """Stripe's JSON for an object, at the account's default API version."""
        with fake.lock:
            return show(Renderer(fake, fake.default_api_version))

    async def reset(_: Request) -> Any:
        fake.reset()
        return {"reset": True}

    async def add_customer(request: Request) -> Any:
        body = CustomerIn.model_validate_json(await request.body())
        customer = fake.add_customer(**body.model_dump())
        return shown(lambda render: render.customer(customer))

    async def add_card(request: Request) -> Any:
        body = CardIn.model_validate_json(await request.body())
        fields = body.model_dump(exclude={"exp_month", "exp_year", "behaviour"})
        card = fake.add_card(
            request.path_params["id"], exp=(body.exp_month, body.exp_year), behaviour=body.behaviour, **fields
        )
        return shown(lambda render: render.card(card))

    async def set_behaviour(request: Request) -> Any:
        fake.set_behaviour(request.path_params["id"], CardBehaviour.model_validate_json(await request.body()))
        return {"id": request.path_params["id"]}

    async def add_subscription(request: Request) -> Any:
        body = SubscriptionIn.model_validate_json(await request.body())
        subscription = fake.add_subscription(**body.model_dump())
        return shown(lambda render: render.subscription(subscription))

    async def add_invoice(request: Request) -> Any:
        body = InvoiceIn.model_validate_json(await request.body())
        fields = body.model_dump(exclude={"customer", "subscription"})
        invoice = fake.add_invoice(body.customer, subscription_id=body.subscription, **fields)
        return shown(lambda render: render.invoice(invoice))

    async def get_invoice(request: Request) -> Any:
        invoice = fake.invoice(request.path_params["id"])
        return shown(lambda render: render.invoice(invoice))

    async def add_fault(request: Request) -> Any:
        fault = Fault.model_validate_json(await request.body())
        fake.inject_faults(**fault.model_dump())
        return fault.model_dump()

    async def clear_faults(_: Request) -> Any:
        fake.clear_faults()
        return {"cleared": True}

    async def set_latency(request: Request) -> Any:
        latency = Latency.model_validate_json(await request.body())
        fake.set_latency(**latency.model_dump())
        return latency.model_dump()

    async def set_rate_limit(request: Request) -> Any:
        limit = RateLimit.model_validate_json(await request.body())
        fake.set_rate_limit(limit.writes_per_second, reads_per_second=limit.reads_per_second)
        return limit.model_dump()

    async def clear_rate_limit(_: Request) -> Any:
        fake.clear_rate_limit()
        return {"cleared": True}

    async def add_api_key(request: Request) -> Any:
        body = ApiKeyIn.model_validate_json(await request.body())
        fake.add_api_key(body.key, account=body.account)
        return {"account": body.account}

    async def connect(request: Request) -> Any:
        body = ConnectIn.model_validate_json(await request.body())
        fake.connect(body.account, platform=body.platform)
        return body.model_dump()

    async def charges(request: Request) -> Any:
        query = request.query_params
        found = fake.charges(query.get("invoice"), status=query.get("status"))
        return {"data": [asdict(charge) for charge in found]}

    async def charge_summary(_: Request) -> Any:
        every = fake.charges()
        return {
            "attempts": len(every),
            "succeeded": sum(charge.status == "succeeded" for charge in every),
            "successful_by_invoice": fake.successful_charges_by_invoice(),
        }

    async def requests(request: Request) -> Any:
        found = fake.requests(request.query_params.get("path_prefix", "/v1/"))
        return {"data": [asdict(record) for record in found]}

    async def send_webhook(request: Request) -> Any:
        body = WebhookIn.model_validate_json(await request.body())
        event = build_event(fake, body.type, body.object, api_version=body.api_version)
        try:
            response = await deliver(event, body.url, body.secret)
        except httpx.HTTPError as error:
            return {"event": event, "delivered": False, "error": repr(error)}
        return {"event": event, "delivered": True, "status": response.status_code}

    table: list[tuple[str, str, _Action]] = [
        ("POST", "/_fake/reset", reset),
        ("POST", "/_fake/customers", add_customer),
        ("POST", "/_fake/customers/{id}/cards", add_card),
        ("PUT", "/_fake/payment_methods/{id}/behaviour", set_behaviour),
        ("POST", "/_fake/subscriptions", add_subscription),
        ("POST", "/_fake/invoices", add_invoice),
        ("GET", "/_fake/invoices/{id}", get_invoice),
        ("POST", "/_fake/faults", add_fault),
        ("DELETE", "/_fake/faults", clear_faults),
        ("PUT", "/_fake/latency", set_latency),
        ("PUT", "/_fake/rate_limit", set_rate_limit),
        ("DELETE", "/_fake/rate_limit", clear_rate_limit),
        ("POST", "/_fake/api_keys", add_api_key),
        ("POST", "/_fake/accounts", connect),
        ("GET", "/_fake/charges", charges),
        ("GET", "/_fake/charges/summary", charge_summary),
        ("GET", "/_fake/requests", requests),
        ("POST", "/_fake/webhooks", send_webhook),
    ]
    return [Route(path, _json(action), methods=[method]) for method, path, action in table]


def _json(action: _Action) -> Callable[[Request], Awaitable[Response]]:
    """JSON out; 422 for a body that does not validate, 404 for an object the fake does not have."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await action(request)
        except ValidationError as error:
            details = json.loads(error.json())
            return JSONResponse({"error": {"message": "invalid body", "details": details}}, 422)
        except KeyError as error:
            return JSONResponse({"error": {"message": str(error.args[0])}}, 404)
        except ValueError as error:
            return JSONResponse({"error": {"message": str(error)}}, 400)
        return JSONResponse(result, 201 if request.method == "POST" else 200)

    return endpoint
