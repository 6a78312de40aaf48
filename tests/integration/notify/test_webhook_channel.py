"""Outbound webhooks over real HTTP, checked the way a platform would: with the Standard Webhooks
reference library. Also how endpoint answers map to retry-or-give-up."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.support.servers import serve_in_thread

from dunning.common.clock import FixedClock
from dunning.common.embedded import free_port
from dunning.notify.channels.errors import DeliveryError
from dunning.notify.channels.webhooks import USER_AGENT, WebhookSender, new_webhook_secret, secret_key, sign

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PAYLOAD = {"type": "dunning.escalation.level_changed", "data": {"case_id": "case_1", "customer": "山田 太郎"}}


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    """What the platform's endpoint received, and how it answers next."""

    deliveries: list[Delivery] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.deliveries.clear()
        self.status, self.headers, self.delay = 200, {}, 0.0


def endpoint_app(endpoint: Endpoint) -> Starlette:
    async def receive(request: Request) -> Response:
        body = await request.body()
        with endpoint.lock:
            endpoint.deliveries.append(Delivery(request.url.path, dict(request.headers), body))
        if endpoint.delay:
            await asyncio.sleep(endpoint.delay)
        return Response(b"", status_code=endpoint.status, headers=endpoint.headers)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


@pytest.fixture(scope="module")
def endpoint_server() -> Iterator[tuple[Endpoint, str]]:
    endpoint = Endpoint()
    with serve_in_thread(endpoint_app(endpoint)) as url:
        yield endpoint, url


@pytest.fixture
def endpoint(endpoint_server: tuple[Endpoint, str]) -> Endpoint:
    endpoint_server[0].reset()
    return endpoint_server[0]


@pytest.fixture
def hook_url(endpoint_server: tuple[Endpoint, str]) -> str:
    return f"{endpoint_server[1]}/hooks/dunning"


async def deliver(url: str, secret: str | list[str] = SECRET, *, timeout: float = 5.0) -> int:
    async with WebhookSender(timeout=timeout) as sender:
        return await sender.send(url, secret, msg_id="msg_1", payload=PAYLOAD, timestamp=datetime.now(UTC))


async def deliver_expecting_error(
    url: str, *, clock: FixedClock | None = None, timeout: float = 5.0
) -> DeliveryError:
    async with WebhookSender(timeout=timeout, clock=clock) as sender:
        with pytest.raises(DeliveryError) as caught:
            await sender.send(url, SECRET, msg_id="msg_1", payload=PAYLOAD, timestamp=datetime.now(UTC))
    return caught.value


async def test_the_reference_library_verifies_what_we_send(endpoint: Endpoint, hook_url: str) -> None:
    assert await deliver(hook_url) == 200

    [delivery] = endpoint.deliveries
    assert delivery.path == "/hooks/dunning"
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["user-agent"] == USER_AGENT
    assert delivery.headers["webhook-id"] == "msg_1"
    assert Webhook(SECRET).verify(delivery.body, delivery.headers) == PAYLOAD


async def test_a_tampered_delivery_does_not_verify(endpoint: Endpoint, hook_url: str) -> None:
    await deliver(hook_url)
    [delivery] = endpoint.deliveries

    tampered = delivery.body.replace(b"case_1", b"case_2")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, delivery.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(delivery.body, {**delivery.headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(delivery.body, delivery.headers)


async def test_during_rotation_either_secret_verifies(endpoint: Endpoint, hook_url: str) -> None:
    old, new = SECRET, new_webhook_secret()

    await deliver(hook_url, [old, new])

    [delivery] = endpoint.deliveries
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(delivery.body, delivery.headers) == PAYLOAD
    assert Webhook(new).verify(delivery.body, delivery.headers) == PAYLOAD
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(delivery.body, delivery.headers)


async def test_sign_reproduces_the_specifications_test_vector() -> None:
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_new_secrets_are_fresh_and_well_formed() -> None:
    first, second = new_webhook_secret(), new_webhook_secret()

    assert first.startswith("whsec_")
    assert first != second
    assert len(secret_key(first)) == 32
    for bad in ("whsec_" + base64.b64encode(b"short").decode(), "whsec_not base64!", "whsec_"):
        with pytest.raises(ValueError, match="webhook secret"):
            secret_key(bad)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_any_2xx_is_delivered(endpoint: Endpoint, hook_url: str, status: int) -> None:
    endpoint.status = status

    assert await deliver(hook_url) == status


@pytest.mark.parametrize(
    ("status", "permanent", "code"),
    [
        (410, True, "endpoint_gone"),
        (400, True, "http_400"),
        (401, True, "http_401"),
        (404, True, "http_404"),
        (413, True, "http_413"),
        (408, False, "http_408"),
        (409, False, "http_409"),
        (425, False, "http_425"),
        (429, False, "http_429"),
        (500, False, "http_500"),
        (502, False, "http_502"),
        (503, False, "http_503"),
    ],
)
async def test_endpoint_answers_map_to_retry_or_give_up(
    endpoint: Endpoint, hook_url: str, status: int, permanent: bool, code: str
) -> None:
    endpoint.status = status

    error = await deliver_expecting_error(hook_url)

    assert (error.permanent, error.code, error.retry_after) == (permanent, code, None)


async def test_retry_after_is_passed_on_in_seconds_or_as_a_date(endpoint: Endpoint, hook_url: str) -> None:
    endpoint.status, endpoint.headers = 429, {"Retry-After": "120"}
    assert (await deliver_expecting_error(hook_url)).retry_after == 120.0

    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    endpoint.status, endpoint.headers = 503, {"Retry-After": "Sun, 01 Jun 2025 12:05:00 GMT"}
    error = await deliver_expecting_error(hook_url, clock=FixedClock(now))
    assert (error.permanent, error.retry_after) == (False, 300.0)


async def test_a_redirect_is_not_followed(endpoint: Endpoint, hook_url: str) -> None:
    endpoint.status, endpoint.headers = 307, {"Location": hook_url.replace("/hooks/dunning", "/elsewhere")}

    error = await deliver_expecting_error(hook_url)

    assert (error.permanent, error.code) == (True, "http_307")
    assert [d.path for d in endpoint.deliveries] == ["/hooks/dunning"]


async def test_a_slow_endpoint_times_out_as_transient(endpoint: Endpoint, hook_url: str) -> None:
    endpoint.delay = 1.0

    error = await deliver_expecting_error(hook_url, timeout=0.2)

    assert (error.permanent, error.code) == (False, "timeout")


async def test_an_unreachable_endpoint_is_transient() -> None:
    error = await deliver_expecting_error(f"http://127.0.0.1:{free_port()}/hooks")

    assert (error.permanent, error.code) == (False, "connection")


async def test_raw_bytes_are_sent_exactly_as_given(endpoint: Endpoint, hook_url: str) -> None:
    body = b'{"already":"encoded", "spacing" : 1}'
    async with WebhookSender() as sender:
        await sender.send(hook_url, SECRET, msg_id="msg_raw", payload=body, timestamp=datetime.now(UTC))

    [delivery] = endpoint.deliveries
    assert delivery.body == body
    Webhook(SECRET).verify(delivery.body, delivery.headers)


async def test_a_naive_timestamp_is_refused() -> None:
    async with WebhookSender() as sender:
        with pytest.raises(ValueError, match="timezone-aware"):
            await sender.send("http://x.test", SECRET, msg_id="m", payload={}, timestamp=datetime(2025, 1, 1))


@settings(max_examples=80, deadline=None)
@given(
    msg_id=st.text(
        st.characters(codec="ascii", min_codepoint=33, max_codepoint=126), min_size=1, max_size=40
    ),
    body=st.text(max_size=300),
    age=st.integers(min_value=0, max_value=240),
)
async def test_the_reference_library_accepts_any_body_we_sign(msg_id: str, body: str, age: int) -> None:
    raw = body.encode("utf-8", "surrogatepass")
    timestamp = int((datetime.now(UTC) - timedelta(seconds=age)).timestamp())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(SECRET, msg_id, timestamp, raw),
    }

    Webhook(SECRET).verify(raw, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(raw + b"x", headers, json_parse=False)


async def test_payloads_are_compact_utf8_json(endpoint: Endpoint, hook_url: str) -> None:
    await deliver(hook_url)

    [delivery] = endpoint.deliveries
    assert json.loads(delivery.body) == PAYLOAD
    assert "山田 太郎".encode() in delivery.body
