"""A key never sees another tenant's data: every route of the OpenAPI document, called with
tenant B's key against tenant A's objects, answers 404 or shows only B's own data, and leaves A's
objects as they were. A route added later without a row in ROUTES fails this test."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import text
from tests.conftest import Infra
from tests.integration.conftest import make_tenant
from tests.integration.retry.test_cases import deliver, payment_event

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.notify.tables import deliveries, letters

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

OBJECT = "object"  # path parameters name A's objects: B gets 404
OWN = "own"  # the route acts on the caller's own tenant: B sees and changes only B's data
OPERATOR = "operator"  # cross-tenant routes: the operator token only, a tenant key gets 403
PUBLIC = "public"  # no API key by design; not called here


@dataclass(frozen=True)
class Route:
    kind: str
    status: int | None = None  # what B gets (None for PUBLIC)
    body: Any = None
    empty_list: bool = False  # a list that holds nothing of B's: it must be empty
    reason: str = ""


ROUTES: dict[str, Route] = {
    # tenancy
    "GET /v1/tenant": Route(OWN, 200),
    "POST /v1/api-keys": Route(OWN, 201, {"scopes": ["read"], "label": "b-key"}),
    "GET /v1/api-keys": Route(OWN, 200),
    "DELETE /v1/api-keys/{key_id}": Route(OBJECT, 404),
    "PUT /v1/processor-credentials/{provider}": Route(OWN, 200, {"api_key": "sk_test_bbbbbbbbbbbb1111"}),
    # Called before B's PUT (routes go in name order): B has no key, though A has one.
    "GET /v1/processor-credentials/{provider}": Route(OWN, 404),
    "POST /v1/webhook-secrets": Route(OWN, 201, {}),
    "GET /v1/webhook-secrets": Route(OWN, 200),
    "POST /v1/webhook-secrets/{secret_id}/retire": Route(OBJECT, 404),
    "GET /v1/tenants": Route(OPERATOR, 403),
    "POST /v1/tenants": Route(OPERATOR, 403, {"name": "B's attempt"}),
    "POST /v1/tenants/{tenant_id}/api-keys": Route(OPERATOR, 403, {"scopes": ["admin"]}),
    # ingest
    "POST /v1/webhooks/{provider}/{tenant_id}": Route(
        PUBLIC, reason="the processor's webhook: authenticated by the tenant's signing secret, not a key"
    ),
    # retry
    "GET /v1/cases": Route(OWN, 200, empty_list=True),
    "GET /v1/cases/{case_id}": Route(OBJECT, 404),
    "POST /v1/cases/{case_id}/pause": Route(OBJECT, 404),
    "POST /v1/cases/{case_id}/resume": Route(OBJECT, 404),
    "POST /v1/cases/{case_id}/write-off": Route(OBJECT, 404),
    "POST /v1/cases/{case_id}/retry": Route(OBJECT, 404),
    "GET /v1/retry-policy": Route(OWN, 200),
    "GET /v1/cases.csv": Route(OWN, 200),  # a header row only: no marker of A's may appear
    "GET /v1/analytics/recovery": Route(OWN, 200),
    "GET /v1/analytics/recovery.csv": Route(OWN, 200),
    "PUT /v1/retry-policy": Route(OWN, 200, "B's current retry policy"),
    # collections (ADR 0009)
    "POST /v1/cases/{case_id}/promises": Route(OBJECT, 404, {"pay_by": "2026-12-01"}),
    "POST /v1/cases/{case_id}/payment-plans": Route(OBJECT, 404, {"instalments": 2}),
    "POST /v1/cases/{case_id}/disputes": Route(OBJECT, 404, {"reason": "other"}),
    "POST /v1/cases/{case_id}/disputes/{dispute_id}/resolve": Route(
        OBJECT, 404, {"outcome": "upheld", "note": "B's attempt"}
    ),
    "POST /v1/cases/{case_id}/settlements": Route(OBJECT, 404, {"amount": 100, "reason": "B's attempt"}),
    "POST /v1/cases/{case_id}/settlements/{settlement_id}/approve": Route(OBJECT, 404, {}),
    "POST /v1/cases/{case_id}/settlements/{settlement_id}/reject": Route(OBJECT, 404, {}),
    "POST /v1/cases/{case_id}/notes": Route(OBJECT, 404, {"body": "B's note"}),
    "GET /v1/cases/{case_id}/notes": Route(OBJECT, 404),
    "GET /v1/collections-policy": Route(OWN, 200),
    "PUT /v1/collections-policy": Route(OWN, 200, "B's current collections policy"),
    "GET /v1/tasks": Route(OWN, 200, empty_list=True),
    "GET /v1/exports/adjustments.csv": Route(OWN, 200),  # a header row only
    # notify
    "GET /v1/escalation-policy": Route(OWN, 200),
    "PUT /v1/escalation-policy": Route(OWN, 200, "B's current escalation policy"),
    "GET /v1/templates/{template}/{channel}/{locale}": Route(OWN, 200),  # the default, not A's wording
    "PUT /v1/templates/{template}/{channel}/{locale}": Route(OWN, 200, "B's template"),
    "DELETE /v1/templates/{template}/{channel}/{locale}": Route(OWN, 204),
    "POST /v1/templates/preview": Route(
        OWN, 200, {"template": "reminder", "channel": "email", "locale": "en"}
    ),
    "GET /v1/notifications": Route(OWN, 200, empty_list=True),
    "GET /v1/customers/{customer_id}/notices": Route(OWN, 200, empty_list=True),
    "GET /v1/customers/{customer_id}/contact": Route(OBJECT, 404),
    # Customer ids are the processor's: B may know the same customer; it gets a contact of its own.
    "PUT /v1/customers/{customer_id}/contact": Route(OWN, 200, {"name": "B's view of the customer"}),
    "GET /v1/customers/{customer_id}/b2b": Route(OBJECT, 404),
    "PUT /v1/customers/{customer_id}/b2b": Route(OWN, 200, {"payment_terms_days": 60}),
    "GET /v1/notifications/{delivery_id}/letter.pdf": Route(OBJECT, 404),
    "PUT /v1/notification-endpoints/{kind}": Route(OWN, 200, {"url": "https://b.example.com/hook"}),
    "GET /v1/notification-endpoints": Route(OWN, 200),
    "GET /v1/mail": Route(OWN, 200),
    "GET /v1/mail/{name}": Route(OBJECT, 404),
    "GET /v1/unsubscribe/{token}": Route(
        PUBLIC, reason="the customer's link: a signed token names the message"
    ),
    "POST /v1/unsubscribe/{token}": Route(PUBLIC, reason="as the GET (RFC 8058 one-click)"),
    "GET /pay/{token}": Route(
        PUBLIC,
        reason="the customer's self-service page: a signed token names tenant and case; a token "
        "of tenant B naming A's case finds nothing (tests/integration/retry/test_selfservice_page.py)",
    ),
    "POST /pay/{token}/method": Route(PUBLIC, reason="a form of the self-service page, as its GET"),
    "POST /pay/{token}/promise": Route(PUBLIC, reason="a form of the self-service page, as its GET"),
    "POST /pay/{token}/plan": Route(PUBLIC, reason="a form of the self-service page, as its GET"),
    "POST /pay/{token}/dispute": Route(PUBLIC, reason="a form of the self-service page, as its GET"),
    "POST /v1/sms/inbound": Route(
        PUBLIC, reason="the SMS provider's webhook, signed; a STOP applies to every tenant (ADR 0007)"
    ),
}


@dataclass
class TenantA:
    key: str
    params: dict[str, str]
    # Strings only A's data contains: none may appear in anything B gets.
    markers: list[str] = field(default_factory=list)


@pytest_asyncio.fixture
async def http(
    infra: Infra, clean_db: Database, box: SecretBox, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    settings = SystemSettings(
        data_dir=tmp_path / "data",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
    )
    app = build_system_app(settings, clean_db, box, Health())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dunning.test"
    ) as client:
        yield client, settings.data_dir


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def tenant_a_objects(
    client: httpx.AsyncClient, db: Database, box: SecretBox, data_dir: Path
) -> TenantA:
    created = await make_tenant(db, box, name="Tenant-A-Marker")
    auth = bearer(created.api_key)
    customer = "cus_a_marker"
    await deliver(
        db,
        payment_event(
            "payment.failed", invoice_id="in_a_marker", tenant_id=created.tenant_id, customer_id=customer
        ),
    )
    [case] = (await client.get("/v1/cases", headers=auth)).json()["data"]
    now = datetime.now(UTC)
    delivery_id = str(uuid.uuid4())
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            deliveries.insert().values(
                id=delivery_id,
                tenant_id=created.tenant_id,
                key=f"a-marker-{uuid.uuid4()}",
                case_id=case["id"],
                invoice_id="in_a_marker",
                customer_id=customer,
                template="reminder",
                channel="in_app",
                status="sent",
                due_at=now,
                next_attempt_at=now,
                subject="A-MARKER-NOTICE",
                body_text="A-MARKER-NOTICE text",
                sent_at=now,
            )
        )
        await uow.session.execute(
            letters.insert().values(
                delivery_id=delivery_id, tenant_id=created.tenant_id, pdf=b"%PDF A-MARKER"
            )
        )
        await uow.commit()
    contact = {"name": "A-Marker Person", "email": "a-marker@example.com"}
    assert (
        await client.put(f"/v1/customers/{customer}/contact", json=contact, headers=auth)
    ).status_code == 200
    b2b = {"payment_terms_days": 30, "contacts": [{"email": "a-marker-finance@example.com"}]}
    assert (await client.put(f"/v1/customers/{customer}/b2b", json=b2b, headers=auth)).status_code == 200
    template = (await client.get("/v1/templates/reminder/email/en", headers=auth)).json()
    override = {
        "subject": template["subject"],
        "text": template["text"] + "\nA-MARKER-TEMPLATE",
        "html": None,
    }
    assert (
        await client.put("/v1/templates/reminder/email/en", json=override, headers=auth)
    ).status_code == 200
    endpoint = {"url": "https://a-marker.example.com/hook"}
    assert (
        await client.put("/v1/notification-endpoints/platform", json=endpoint, headers=auth)
    ).status_code == 200
    extra_key = (
        await client.post("/v1/api-keys", json={"scopes": ["read"], "label": "A-MARKER-KEY"}, headers=auth)
    ).json()
    secret = (await client.post("/v1/webhook-secrets", json={}, headers=auth)).json()
    stripe = {"api_key": "sk_test_aaaaaaaaaaaa9999"}
    assert (
        await client.put("/v1/processor-credentials/stripe", json=stripe, headers=auth)
    ).status_code == 200
    # A's collections objects: a dispute awaiting an answer, a settlement awaiting approval, a note.
    case_path = f"/v1/cases/{case['id']}"
    dispute = {"reason": "quality", "details": "A-MARKER-DISPUTE"}
    assert (await client.post(f"{case_path}/disputes", json=dispute, headers=auth)).status_code == 200
    async with db.engine.connect() as conn:
        dispute_id = await conn.scalar(text("SELECT id FROM retry.customer_disputes"))
    offer = {"amount": 100, "reason": "A-MARKER-SETTLEMENT"}
    settlement = await client.post(f"{case_path}/settlements", json=offer, headers=auth)
    assert settlement.status_code == 200, settlement.text
    note = {"kind": "call", "body": "A-MARKER-NOTE"}
    assert (await client.post(f"{case_path}/notes", json=note, headers=auth)).status_code == 200
    mail_name = uuid.uuid4().hex + ".eml"
    mail = data_dir / "mail" / created.tenant_id / mail_name
    mail.parent.mkdir(parents=True)
    mail.write_bytes(
        b"To: a-marker@example.com\r\nSubject: A-MARKER-MAIL\r\nMessage-ID: <a@marker>\r\n"
        b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nA-MARKER-MAIL body\r\n"
    )
    return TenantA(
        key=created.api_key,
        params={
            "case_id": case["id"],
            "key_id": extra_key["id"],
            "secret_id": secret["id"],
            "provider": "stripe",
            "tenant_id": created.tenant_id,
            "customer_id": customer,
            "template": "reminder",
            "channel": "email",
            "locale": "en",
            "kind": "platform",
            "name": mail_name,
            "dispute_id": str(dispute_id),
            "settlement_id": settlement.json()["id"],
            "delivery_id": delivery_id,
        },
        markers=[
            created.tenant_id,
            "Tenant-A-Marker",
            case["id"],
            "in_a_marker",
            extra_key["id"],
            extra_key["prefix"],
            "A-MARKER",
            "a-marker",
            secret["id"],
            "sk_test_…9999",
        ],
    )


async def snapshot_of_a(client: httpx.AsyncClient, a: TenantA) -> dict[str, Any]:
    """Everything of A that B's calls could have changed, as A sees it."""
    auth = bearer(a.key)
    p = a.params
    paths = [
        f"/v1/cases/{p['case_id']}",
        "/v1/api-keys",
        "/v1/webhook-secrets",
        "/v1/processor-credentials/stripe",
        "/v1/templates/reminder/email/en",
        f"/v1/customers/{p['customer_id']}/contact",
        f"/v1/customers/{p['customer_id']}/b2b",
        "/v1/notification-endpoints",
        "/v1/retry-policy",
        "/v1/collections-policy",
        f"/v1/cases/{p['case_id']}/notes",
        "/v1/tasks",
        "/v1/escalation-policy",
        "/v1/mail",
        "/v1/notifications",
        "/v1/tenant",
    ]
    snapshot = {}
    for path in paths:
        response = await client.get(path, headers=auth)
        assert response.status_code == 200, f"A cannot read its own {path}: {response.text}"
        snapshot[path] = response.json()
    return snapshot


def documented_routes(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("get", "put", "post", "delete", "patch")
    }


async def body_for(client: httpx.AsyncClient, b_key: str, route: Route) -> Any:
    if route.body == "B's current retry policy":
        return (await client.get("/v1/retry-policy", headers=bearer(b_key))).json()
    if route.body == "B's current collections policy":
        return (await client.get("/v1/collections-policy", headers=bearer(b_key))).json()
    if route.body == "B's current escalation policy":
        return (await client.get("/v1/escalation-policy", headers=bearer(b_key))).json()
    if route.body == "B's template":
        default = (await client.get("/v1/templates/reminder/email/en", headers=bearer(b_key))).json()
        return {"subject": default["subject"], "text": default["text"] + "\nB wording", "html": None}
    return route.body


def without_echo(body: Any) -> str:
    # A problem's `instance` is the request's own path (which B wrote, with A's ids): not data.
    if isinstance(body, dict) and "instance" in body:
        body = {k: v for k, v in body.items() if k != "instance"}
    return json.dumps(body)


async def test_every_route_is_classified(http: tuple[httpx.AsyncClient, Path]) -> None:
    client, _ = http
    document = (await client.get("/openapi.json")).json()
    routes = documented_routes(document)
    assert routes - set(ROUTES) == set(), "new routes: classify them in ROUTES (and test their isolation)"
    assert set(ROUTES) - routes == set(), "ROUTES lists routes that no longer exist"
    assert all(r.reason for r in ROUTES.values() if r.kind == PUBLIC)


async def test_tenant_b_key_never_sees_or_changes_tenant_a_data(
    http: tuple[httpx.AsyncClient, Path], clean_db: Database, box: SecretBox
) -> None:
    client, data_dir = http
    a = await tenant_a_objects(client, clean_db, box, data_dir)
    b = await make_tenant(clean_db, box, name="Tenant B")
    before = await snapshot_of_a(client, a)
    # A's object ids are real: the routes B must be refused on answer A.
    for name, route in ROUTES.items():
        method, path = name.split(" ", 1)
        if route.kind == OBJECT and method == "GET":
            response = await client.get(path.format(**a.params), headers=bearer(a.key))
            assert response.status_code == 200, f"{name} with A's own key: {response.status_code}"

    document = (await client.get("/openapi.json")).json()
    # Object routes first: B's own writes later (a contact, say) must not make them pass as 404s.
    order = sorted(documented_routes(document), key=lambda n: (ROUTES[n].kind != OBJECT, n))
    called = 0
    for name in order:
        route = ROUTES[name]
        if route.kind == PUBLIC:
            continue
        method, path = name.split(" ", 1)
        response = await client.request(
            method,
            path.format(**a.params),
            headers=bearer(b.api_key),
            json=await body_for(client, b.api_key, route) if route.body is not None else None,
        )
        called += 1
        assert response.status_code == route.status, f"{name}: {response.status_code} {response.text}"
        csv = response.headers.get("content-type", "").startswith("text/csv")
        text = response.text if csv else without_echo(response.json()) if response.content else ""
        leaked = [m for m in a.markers if m in text]
        assert leaked == [], f"{name} showed tenant A's data to tenant B: {leaked}"
        if route.empty_list:
            assert response.json()["data"] == [], name
    assert called == sum(1 for r in ROUTES.values() if r.kind != PUBLIC)

    assert await snapshot_of_a(client, a) == before, "tenant B's calls changed tenant A's data"
    # A's extra key still works: B could not revoke it.
    assert (await client.get("/v1/cases", headers=bearer(a.key))).status_code == 200
