"""The dashboard in a real headless chromium: sign in, read the overview, filter cases, open one,
pause and resume it, be refused a bad retry policy, preview a Japanese template. A screenshot
of each page goes to tests/artifacts/dashboard/."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, async_playwright, expect
from pydantic import SecretStr
from tests.conftest import Infra
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing, serve_in_loop

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.clock import FixedClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.envelope import CloudEvent
from dunning.common.health import Health
from dunning.common.tenancy.service import create_tenant
from dunning.dashboard import CONTENT_SECURITY_POLICY
from dunning.notify.tables import deliveries
from dunning.retry.handlers import PaymentEventHandler

pytestmark = [
    pytest.mark.integration,
    pytest.mark.asyncio,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Seeded:
    url: str
    api_key: str
    http: httpx.AsyncClient

    async def case(self, invoice_id: str) -> dict[str, Any]:
        answer = await self.http.get("/v1/cases", params={"limit": 200})
        return next(c for c in answer.json()["data"] if c["invoice_id"] == invoice_id)


def event(kind: str, tenant_id: str, invoice_id: str, at: datetime, **data: Any) -> CloudEvent:
    body: dict[str, Any] = {"tenant_id": tenant_id, "occurred_at": at.isoformat(), "invoice_id": invoice_id}
    if kind.startswith(("payment.", "invoice.")):
        body |= {
            "provider": "stripe",
            "provider_event_id": f"evt_{uuid.uuid4().hex[:10]}",
            "provider_event_type": "x",
            "livemode": False,
        }
    body |= data
    return CloudEvent(
        id=str(uuid.uuid4()),
        source="/test",
        type=f"dunning.{kind}.v1",
        subject=f"{tenant_id}:{invoice_id}",
        time=at,
        tenantid=tenant_id,
        data=body,
    )


def failed(
    tenant_id: str, invoice_id: str, customer: str, amount: int, currency: str, decline: str, days: int
) -> CloudEvent:
    return event(
        "payment.failed",
        tenant_id,
        invoice_id,
        NOW - timedelta(days=days),
        customer_id=customer,
        amount=amount,
        amount_due=amount,
        currency=currency,
        decline_code=decline,
        payment_method_id=f"pm_{invoice_id}",
    )


async def deliver(db: Database, *events: CloudEvent) -> None:
    handler = PaymentEventHandler(FixedClock(NOW))
    for one in events:
        async with db.unit_of_work() as uow:
            await handler(uow.session, one)
            await uow.commit()


@pytest_asyncio.fixture
async def seeded(infra: Infra, clean_db: Database, box: SecretBox, tmp_path: Path) -> AsyncIterator[Seeded]:
    async with clean_db.unit_of_work() as uow:
        tenant = await create_tenant(uow.session, box, "Acme")
        await uow.commit()
    settings = SystemSettings(
        data_dir=tmp_path / "data",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
    )
    app = build_system_app(settings, clean_db, box, Health())
    async with (
        serve_in_loop(app) as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {tenant.api_key}"}) as http,
    ):
        policy = (await http.get("/v1/retry-policy")).json()
        (await http.put("/v1/retry-policy", json=policy | {"mode": "own_retries"})).raise_for_status()
        t = tenant.tenant_id
        await deliver(
            clean_db,
            failed(t, "in_paid", "cus_alice", 4500, "EUR", "insufficient_funds", days=3),
            event(
                "invoice.paid",
                t,
                "in_paid",
                NOW - timedelta(days=2),
                customer_id="cus_alice",
                amount=4500,
                amount_due=4500,
                currency="EUR",
            ),
            failed(t, "in_open", "cus_alice", 2000, "EUR", "card_declined", days=2),
            failed(t, "in_yen", "cus_bob", 6000, "JPY", "insufficient_funds", days=1),
            failed(t, "in_third", "cus_carol", 1000, "EUR", "expired_card", days=1),
        )
        seeded = Seeded(url, tenant.api_key, http)
        case = await seeded.case("in_open")
        await deliver(
            clean_db,
            event(
                "notification.suppressed",
                t,
                "in_open",
                NOW - timedelta(days=1),
                case_id=case["id"],
                customer_id="cus_alice",
                delivery_id="d1",
                delivery_key=f"{t}:{case['id']}:0:sms",
                level=0,
                level_name="friendly",
                template="friendly",
                channel="sms",
                address="***0100",
                attempts=0,
                reason="***0100 opted out of sms messages",
                reason_code="opted_out_address",
            ),
        )
        # A message as notify stores it once rendered (notify itself is not running here).
        async with clean_db.unit_of_work() as uow:
            await uow.session.execute(
                deliveries.insert().values(
                    id="dlv_1",
                    tenant_id=t,
                    key=f"{t}:{case['id']}:0:email",
                    case_id=case["id"],
                    invoice_id="in_open",
                    customer_id="cus_alice",
                    level=0,
                    level_name="friendly",
                    template="friendly",
                    channel="email",
                    status="sent",
                    due_at=NOW - timedelta(days=1),
                    next_attempt_at=NOW - timedelta(days=1),
                    attempts=1,
                    address="a***@example.com",
                    locale="en",
                    subject="Your payment to Acme did not go through",
                    body_text="Hello Alice, we could not charge €20.00.",
                    sent_at=NOW - timedelta(days=1),
                )
            )
            await uow.commit()
        yield seeded


@pytest_asyncio.fixture
async def page() -> AsyncIterator[Page]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            yield await context.new_page()
        finally:
            await browser.close()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_the_dashboard_main_flows(seeded: Seeded, page: Page) -> None:
    # Script errors and CSP violations; refused API calls (401, 422) are expected on the way.
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)

    answer = await page.goto(f"{seeded.url}/dashboard")
    assert answer is not None
    assert page.url == f"{seeded.url}/dashboard/"
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY

    # Sign-in: a wrong key is refused with the API's reason, the right one opens the overview.
    await page.get_by_label("API key").fill("dk_0000000000000000_wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-error")).to_contain_text("the API key is unknown or revoked")
    await shot(page, "01-sign-in-error")
    await page.get_by_label("API key").fill(seeded.api_key)
    await page.get_by_role("button", name="Sign in").click()

    # Overview: the seeded figures (4 cases opened, 1 paid: 25 %, €45.00 and no yen; 3 open).
    await expect(page.locator("#kpi-opened .value")).to_have_text("4")
    await expect(page.locator("#kpi-open .value")).to_have_text("3")
    await expect(page.locator("#kpi-recovered .value")).to_have_text("1")
    await expect(page.locator("#kpi-rate .value")).to_have_text("25.0%")
    await expect(page.locator("#kpi-amount .value")).to_have_text("€45.00 · ¥0")
    await expect(page.get_by_role("img", name="Recovery rate by decline code")).to_be_visible()
    await expect(page.get_by_role("table", name="Recovery by decline code")).to_contain_text(
        "insufficient_funds"
    )
    await shot(page, "02-overview")

    # Case list: the status filter, then a customer search.
    await page.get_by_role("link", name="Cases").click()
    await expect(page.locator("#cases-count")).to_have_text("4 case(s) on this page")
    await page.get_by_label("Status").select_option("recovered")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#cases-count")).to_have_text("1 case(s) on this page")
    await expect(page.get_by_role("table", name="Cases")).to_contain_text("in_paid")
    await page.get_by_label("Status").select_option("")
    await page.get_by_label("Customer, invoice or case id").fill("in_paid")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#cases-count")).to_have_text("1 case(s) on this page")
    await expect(page.get_by_role("table", name="Cases")).to_contain_text("in_paid")
    await page.get_by_label("Customer, invoice or case id").fill("cus_alice")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#cases-count")).to_have_text("2 case(s) on this page")
    await shot(page, "03-cases")

    # A case: its timeline, attempts with reasons and the suppression with its reason.
    case = await seeded.case("in_open")
    await page.get_by_role("link", name=case["id"]).click()
    await expect(page.locator("#case-status")).to_have_text("open")
    await expect(page.locator("#timeline")).to_contain_text("payment failed: dunning case opened")
    await expect(page.locator("#timeline")).to_contain_text("planned for")
    await expect(page.locator("#suppressions")).to_contain_text("opted_out_address")
    await expect(page.locator("#messages")).to_contain_text("Your payment to Acme did not go through")
    await expect(page.locator("#messages")).to_contain_text("we could not charge €20.00")
    await shot(page, "04-case")

    # Pause, then resume: the page and the API agree.
    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator("#case-status")).to_have_text("paused")
    assert (await seeded.case("in_open"))["status"] == "paused"
    await expect(page.locator("#timeline")).to_contain_text("paused (manual)")
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator("#case-status")).to_have_text("open")
    assert (await seeded.case("in_open"))["status"] == "open"
    await shot(page, "05-case-after-resume")

    # A payment plan of 2 instalments (the €20.00 allows no more at the default 10.00 minimum):
    # dunning waits for the plan, and the timeline says so.
    await page.get_by_label("Instalments").select_option("3")
    await page.get_by_role("button", name="Start payment plan").click()
    await expect(page.locator("#action-result")).to_contain_text("Start payment plan failed")
    assert (await seeded.case("in_open"))["status"] == "open"
    await page.get_by_label("Instalments").select_option("2")
    await page.get_by_role("button", name="Start payment plan").click()
    await expect(page.locator("#case-status")).to_have_text("paused")
    await expect(page.locator("#action-result")).to_contain_text("2 instalments planned")
    await expect(page.locator("#timeline")).to_contain_text("payment plan: 2 instalments")
    assert (await seeded.case("in_open"))["pause_reasons"] == ["payment_plan"]
    await shot(page, "05b-case-payment-plan")

    # The retry policy editor shows the server's refusal beside the editor, and stores nothing.
    await page.get_by_role("link", name="Policies").click()
    editor = page.get_by_label("Retry policy (JSON)")
    policy = json.loads(await editor.input_value())
    await editor.fill(json.dumps(policy | {"max_attempts": 0}, indent=2))
    await page.get_by_role("button", name="Save retry policy").click()
    await expect(page.locator("#retry-error")).to_contain_text(
        "max_attempts must be a whole number from 1 to 50"
    )
    assert (await seeded.http.get("/v1/retry-policy")).json()["max_attempts"] == policy["max_attempts"]
    await shot(page, "06-policies-error")

    # Template preview in Japanese.
    await page.get_by_role("link", name="Templates").click()
    await page.get_by_label("Template", exact=True).select_option("friendly")
    await page.get_by_label("Channel", exact=True).select_option("sms")
    await page.get_by_label("Locale", exact=True).select_option("ja")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview-text")).to_contain_text("￥")
    await shot(page, "07-template-preview-ja")

    assert problems == []
    assert missing == []
