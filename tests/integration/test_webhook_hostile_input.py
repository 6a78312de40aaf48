"""Hostile input at the webhook door: whatever arrives, no 5xx, and nothing unverified is stored.

Hypothesis drives the real ingest app over ASGI, on an event loop of its own thread, against
the real PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from tests.conftest import Infra
from tests.support.loop_thread import LoopThread

from dunning.common.clock import SystemClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.http import build_app
from dunning.common.tenancy.service import CreatedTenant, create_tenant
from dunning.ingest.app import install, routers
from dunning.ingest.processors.stripe.signature import sign
from dunning.ingest.settings import IngestSettings

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Door:
    """The ingest app and a tenant, on a loop thread, with helpers the sync tests call."""

    def __init__(self, infra: Infra, loop: LoopThread) -> None:
        self._infra = infra
        self._loop = loop
        self.db = loop.run(self._open())
        self.tenant = loop.run(self._tenant())
        app = build_app(title="ingest", routers=routers(), health=Health())
        install(app, IngestSettings(), self.db, SecretBox(infra.secret_key), SystemClock())
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")

    async def _open(self) -> Database:
        return Database(self._infra.database_url, pool_size=2)

    async def _tenant(self) -> CreatedTenant:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE ingest.webhook_events, ingest.outbox, tenancy.webhook_secrets, "
                    "tenancy.api_keys, tenancy.tenants CASCADE"
                )
            )
        async with self.db.unit_of_work() as uow:
            tenant = await create_tenant(uow.session, SecretBox(self._infra.secret_key), "Fuzz")
            await uow.commit()
        return tenant

    def post(self, body: bytes, headers: dict[bytes, bytes]) -> httpx.Response:
        url = f"/v1/webhooks/stripe/{self.tenant.tenant_id}"
        return self._loop.run(self._client.post(url, content=body, headers=headers))

    def stored(self) -> tuple[int, int]:
        async def count() -> tuple[int, int]:
            async with self.db.engine.connect() as conn:
                events = await conn.scalar(text("SELECT count(*) FROM ingest.webhook_events"))
                staged = await conn.scalar(text("SELECT count(*) FROM ingest.outbox"))
                return int(events or 0), int(staged or 0)

        return self._loop.run(count())

    def close(self) -> None:
        self._loop.run(self._client.aclose())
        self._loop.run(self.db.dispose())


@pytest.fixture
def door(infra: Infra, db: Database) -> Iterator[Door]:
    del db  # requested for its side effect: the schemas are migrated
    with LoopThread() as loop:
        door = Door(infra, loop)
        try:
            yield door
        finally:
            door.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(body=st.binary(max_size=2048), signature=st.one_of(st.none(), st.text(max_size=200)))
def test_unsigned_or_garbled_requests_are_refused_and_never_stored(
    door: Door, body: bytes, signature: str | None
) -> None:
    headers = {} if signature is None else {b"Stripe-Signature": signature.encode("utf-8", "replace")}
    response = door.post(body, headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert door.stored() == (0, 0)


event_like = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(max_size=12).map(lambda s: "evt_" + s), json_values),
        "type": st.sampled_from(
            [
                "invoice.payment_failed",
                "invoice.paid",
                "charge.failed",
                "charge.dispute.created",
                "payment_method.attached",
                "customer.subscription.updated",
                "anything.else",
            ]
        )
        | json_values,
        "created": st.integers(min_value=0, max_value=2**40) | json_values,
        "data": st.fixed_dictionaries(
            {
                "object": st.dictionaries(
                    st.sampled_from(
                        [
                            "id",
                            "customer",
                            "currency",
                            "amount_due",
                            "amount_remaining",
                            "amount",
                            "payment_intent",
                            "status",
                            "subscription",
                            "invoice",
                            "card",
                            "charge",
                        ]
                    ),
                    json_values,
                    max_size=8,
                )
            }
        )
        | json_values,
    },
    optional={"livemode": json_values, "account": json_values, "object": json_values},
)


@FUZZ
@given(event=event_like)
def test_signed_bodies_of_any_shape_get_200_or_a_clear_400_never_a_5xx(
    door: Door, event: dict[str, Any]
) -> None:
    before = door.stored()
    body = json.dumps(event).encode()
    headers = {b"Stripe-Signature": sign(body, door.tenant.stripe_webhook_secret, int(time.time())).encode()}
    response = door.post(body, headers)
    assert response.status_code in (200, 400), response.text
    after = door.stored()
    if response.status_code == 400:
        assert response.json()["detail"]  # says what is wrong
        assert after == before  # a refused event leaves nothing behind
    else:
        assert response.json()["status"] in ("accepted", "ignored", "duplicate")
