"""POST /v1/webhooks/stripe/{tenant}: every answer the issue promises, on real PostgreSQL + broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text
from tests.conftest import Infra
from tests.integration.conftest import make_tenant
from tests.support.kafka import TopicTap
from tests.support.stripe_events import encode, invoice_payment_failed, signed_headers, unhandled_event

from dunning.common.clock import SystemClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.envelope import CONTENT_TYPE, decode_event
from dunning.common.events.topics import PAYMENT_EVENTS_TOPIC
from dunning.common.tenancy.service import CreatedTenant, add_webhook_secret, retire_webhook_secret
from dunning.ingest.maintenance import RawBodyJanitor
from dunning.ingest.pipeline import WebhookPipeline
from dunning.ingest.processors import default_adapters
from dunning.ingest.processors.base import InvalidSignature
from dunning.ingest.tables import outbox, webhook_events

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def url(tenant_id: str) -> str:
    return f"/v1/webhooks/stripe/{tenant_id}"


async def count(db: Database, table: object) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


@pytest.mark.usefixtures("relay")
async def test_failed_payment_is_stored_and_published_once_with_key_and_envelope(
    client: httpx.AsyncClient, tenant: CreatedTenant, infra: Infra, clean_db: Database
) -> None:
    event = invoice_payment_failed(invoice_id="in_key_check", amount=4599, currency="eur")
    body = encode(event)
    async with TopicTap(infra.bootstrap, PAYMENT_EVENTS_TOPIC) as tap:
        response = await client.post(
            url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "status": "accepted",
            "provider_event_id": event["id"],
            "events": ["payment.failed"],
        }
        records = await tap.read(at_least=1)

    assert len(records) == 1
    record = records[0]
    assert record.key == f"{tenant.tenant_id}:in_key_check".encode()
    assert dict(record.headers)["content-type"] == CONTENT_TYPE.encode()
    envelope = decode_event(record.value)
    assert envelope.specversion == "1.0"
    assert envelope.type == "dunning.payment.failed.v1"
    assert envelope.subject == f"{tenant.tenant_id}:in_key_check"
    assert envelope.tenantid == tenant.tenant_id
    assert envelope.data["amount"] == 4599
    assert envelope.data["currency"] == "EUR"
    assert envelope.data["decline_code"] == "insufficient_funds"
    assert envelope.data["provider_event_id"] == event["id"]
    assert envelope.data["invoice_id"] == "in_key_check"
    async with clean_db.engine.connect() as conn:
        stored = (await conn.execute(select(webhook_events))).one()
    assert stored.raw_body == body  # the exact signed bytes, re-verifiable later
    assert stored.outcome == "accepted"


@pytest.mark.usefixtures("relay")
async def test_fifty_concurrent_deliveries_store_one_row_and_publish_one_record(
    client: httpx.AsyncClient, tenant: CreatedTenant, infra: Infra, clean_db: Database
) -> None:
    body = encode(invoice_payment_failed())
    headers = signed_headers(body, tenant.stripe_webhook_secret)
    async with TopicTap(infra.bootstrap, PAYMENT_EVENTS_TOPIC) as tap:
        responses = await asyncio.gather(
            *(client.post(url(tenant.tenant_id), content=body, headers=headers) for _ in range(50))
        )
        records = await tap.read(at_least=1, settle=1.5)

    statuses = sorted(r.json()["status"] for r in responses)
    assert all(r.status_code == 200 for r in responses)
    assert statuses.count("accepted") == 1
    assert statuses.count("duplicate") == 49
    assert await count(clean_db, webhook_events) == 1
    assert await count(clean_db, outbox) == 1
    assert len(records) == 1


async def test_duplicate_answers_200_and_stores_nothing_new(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = encode(invoice_payment_failed())
    first = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
    )
    # Stripe re-signs a redelivery with a new timestamp; it is still the same event.
    again = await client.post(
        url(tenant.tenant_id),
        content=body,
        headers=signed_headers(body, tenant.stripe_webhook_secret, timestamp=int(time.time()) + 5),
    )
    assert first.json()["status"] == "accepted"
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert await count(clean_db, webhook_events) == 1
    assert await count(clean_db, outbox) == 1


async def test_unhandled_type_is_acknowledged_and_recorded_as_ignored(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = encode(unhandled_event())
    response = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert "customer.created" in response.json()["reason"]
    async with clean_db.engine.connect() as conn:
        row = (await conn.execute(select(webhook_events.c.outcome, webhook_events.c.ignored_reason))).one()
    assert row.outcome == "ignored"
    assert await count(clean_db, outbox) == 0


async def assert_rejected(response: httpx.Response, status: int, detail_contains: str, db: Database) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert detail_contains in problem["detail"]
    assert await count(db, webhook_events) == 0
    assert await count(db, outbox) == 0


async def test_unknown_tenant_is_404(client: httpx.AsyncClient, clean_db: Database) -> None:
    body = encode(invoice_payment_failed())
    response = await client.post(
        url("ten_nobody"), content=body, headers=signed_headers(body, "whsec_" + "x" * 32)
    )
    await assert_rejected(response, 404, "no tenant", clean_db)


async def test_unknown_processor_is_404(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = encode(invoice_payment_failed())
    response = await client.post(
        f"/v1/webhooks/paypal/{tenant.tenant_id}",
        content=body,
        headers=signed_headers(body, tenant.stripe_webhook_secret),
    )
    await assert_rejected(response, 404, "paypal", clean_db)


async def test_missing_signature_is_400(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    response = await client.post(url(tenant.tenant_id), content=encode(invoice_payment_failed()))
    await assert_rejected(response, 400, "Stripe-Signature", clean_db)


async def test_wrong_secret_is_400(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = encode(invoice_payment_failed())
    response = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, "whsec_" + "y" * 32)
    )
    await assert_rejected(response, 400, "signature", clean_db)


async def test_tampered_body_is_400(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = encode(invoice_payment_failed(amount=100))
    headers = signed_headers(body, tenant.stripe_webhook_secret)
    response = await client.post(url(tenant.tenant_id), content=body.replace(b"100", b"900"), headers=headers)
    await assert_rejected(response, 400, "signature", clean_db)


async def test_stale_timestamp_is_400(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = encode(invoice_payment_failed())
    headers = signed_headers(body, tenant.stripe_webhook_secret, timestamp=int(time.time()) - 301)
    response = await client.post(url(tenant.tenant_id), content=body, headers=headers)
    await assert_rejected(response, 400, "tolerance", clean_db)


async def test_other_tenants_secret_is_rejected(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, box: SecretBox
) -> None:
    other = await make_tenant(clean_db, box, name="Globex")
    body = encode(invoice_payment_failed())
    response = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, other.stripe_webhook_secret)
    )
    await assert_rejected(response, 400, "signature", clean_db)


async def test_malformed_json_is_400(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = b'{"id": "evt_1", "type": '
    response = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
    )
    await assert_rejected(response, 400, "JSON", clean_db)


async def test_json_that_is_not_an_event_is_400(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = json.dumps({"hello": "world"}).encode()
    response = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
    )
    assert response.status_code == 400
    assert await count(clean_db, webhook_events) == 0


async def test_body_over_one_mebibyte_is_413(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    event = invoice_payment_failed()
    event["data"]["object"]["description"] = "x" * (1024 * 1024)
    body = encode(event)
    response = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
    )
    await assert_rejected(response, 413, "larger than", clean_db)


async def test_oversized_stream_without_content_length_is_413(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    headers = {"Stripe-Signature": "t=1,v1=00"}
    response = await client.post(url(tenant.tenant_id), content=chunks(), headers=headers)
    await assert_rejected(response, 413, "larger than", clean_db)


class _Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_rotation_accepts_both_secrets_and_a_retired_one_stops_within_the_cache_ttl(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database, box: SecretBox
) -> None:
    monotonic = _Monotonic()
    pipeline = WebhookPipeline(
        clean_db,
        box,
        default_adapters(tolerance_seconds=300),
        SystemClock(),
        secret_cache_seconds=10,
        monotonic=monotonic,
    )

    async def deliver(secret: str) -> str:
        body = encode(invoice_payment_failed())
        return (await pipeline.receive("stripe", tenant.tenant_id, body, signed_headers(body, secret))).status

    assert await deliver(tenant.stripe_webhook_secret) == "accepted"  # now cached
    async with clean_db.unit_of_work() as uow:
        new_id, new_secret = await add_webhook_secret(uow.session, box, tenant.tenant_id, "stripe")
        await uow.commit()
    # Within a second of the last read, a failed check is not re-read (forgery floods stay
    # cheap); the processor retries, and a second later the new secret is found.
    with pytest.raises(InvalidSignature):
        await deliver(new_secret)
    monotonic.now += 1.5
    # Added a moment ago and not in the cache yet: accepted, no waiting for the TTL.
    assert await deliver(new_secret) == "accepted"
    assert await deliver(tenant.stripe_webhook_secret) == "accepted"

    async with clean_db.engine.connect() as conn:
        old_id = await conn.scalar(
            text("SELECT id FROM tenancy.webhook_secrets WHERE tenant_id = :t AND id <> :n"),
            {"t": tenant.tenant_id, "n": new_id},
        )
    async with clean_db.unit_of_work() as uow:
        assert await retire_webhook_secret(uow.session, tenant.tenant_id, old_id)
        await uow.commit()
    assert await deliver(tenant.stripe_webhook_secret) == "accepted"  # documented: up to the TTL
    monotonic.now += 10.5  # past the TTL of the cache filled when the new secret was found
    with pytest.raises(InvalidSignature):
        await deliver(tenant.stripe_webhook_secret)
    assert await deliver(new_secret) == "accepted"

    # Over HTTP, a fresh replica (nothing cached) rejects the retired secret at once.
    body = encode(invoice_payment_failed())
    rejected = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
    )
    assert rejected.status_code == 400


async def test_connect_account_is_carried_into_the_canonical_event(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    body = encode(invoice_payment_failed(account="acct_connected1"))
    response = await client.post(
        url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
    )
    assert response.status_code == 200
    async with clean_db.engine.connect() as conn:
        value = await conn.scalar(select(outbox.c.value))
        account = await conn.scalar(select(webhook_events.c.provider_account))
    assert account == "acct_connected1"
    assert value is not None
    assert decode_event(value).data["provider_account"] == "acct_connected1"


async def test_out_of_order_events_are_all_kept_with_the_processors_own_times(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    # Stripe guarantees no order: a later failure can arrive before an earlier one. Ingest keeps
    # both with their own occurred_at; deciding what is stale belongs to the consumers.
    newer = invoice_payment_failed(invoice_id="in_ooo", created=1_700_000_600)
    older = invoice_payment_failed(invoice_id="in_ooo", created=1_700_000_000)
    for event in (newer, older):
        body = encode(event)
        response = await client.post(
            url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
        )
        assert response.json()["status"] == "accepted"
    async with clean_db.engine.connect() as conn:
        values = (await conn.execute(select(outbox.c.value).order_by(outbox.c.id))).scalars().all()
    times = [decode_event(v).time.timestamp() for v in values]
    assert times == [1_700_000_600, 1_700_000_000]


async def test_old_raw_bodies_are_emptied_but_still_dedupe_redeliveries(
    client: httpx.AsyncClient, tenant: CreatedTenant, clean_db: Database
) -> None:
    old, recent = encode(invoice_payment_failed()), encode(invoice_payment_failed())
    for body in (old, recent):
        await client.post(
            url(tenant.tenant_id), content=body, headers=signed_headers(body, tenant.stripe_webhook_secret)
        )
    async with clean_db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE ingest.webhook_events SET received_at = now() - interval '31 days' "
                "WHERE raw_body = :b"
            ),
            {"b": old},
        )
    janitor = RawBodyJanitor(clean_db, retention=timedelta(days=30))
    assert await janitor.run_once() == 1
    assert await janitor.run_once() == 0
    async with clean_db.engine.connect() as conn:
        bodies = (
            (await conn.execute(select(webhook_events.c.raw_body).order_by(webhook_events.c.id)))
            .scalars()
            .all()
        )
    assert bodies == [b"", recent]
    again = await client.post(
        url(tenant.tenant_id), content=old, headers=signed_headers(old, tenant.stripe_webhook_secret)
    )
    assert again.json()["status"] == "duplicate"
