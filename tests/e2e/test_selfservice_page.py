"""The customer's self-service page in a real headless chromium, opened from the link in a real
email: notify composes and sends it over SMTP from the retry service's own case events, the
customer follows it and, with JavaScript switched off, promises to pay, takes a payment plan
and, on a phone-sized screen in Japanese, disputes another invoice. Screenshots go to
tests/artifacts/selfservice/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from pydantic import SecretStr
from sqlalchemy import text
from tests.conftest import Infra
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing, serve_in_loop
from tests.support.selfservice import case_row, open_case, payment_failed
from tests.support.smtp_server import SmtpServer

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.clock import FixedClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.events.envelope import decode_event
from dunning.common.health import Health
from dunning.common.selfservice_link import SelfServiceLinks
from dunning.common.tenancy.service import create_tenant
from dunning.notify.app import dispatcher as make_dispatcher
from dunning.notify.app import walker as make_walker
from dunning.notify.handlers import NotifyEventHandler
from dunning.retry.selfservice.page import CONTENT_SECURITY_POLICY

pytestmark = [
    pytest.mark.integration,
    pytest.mark.asyncio,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "selfservice"
# 10:00 or 11:00 in New York today: inside every sending window, and links made now are current.
NOW = datetime.combine(datetime.now(UTC).date(), time(15, 0), tzinfo=UTC)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@dataclass
class Site:
    url: str
    db: Database
    tenant_id: str
    links: SelfServiceLinks
    email_text: str


async def send_the_friendly_email(
    db: Database, settings: SystemSettings, box: SecretBox, clock: FixedClock
) -> None:
    """Notify, fed what ingest and retry published (retry's outbox, as the relay would carry it)."""
    handler = NotifyEventHandler(clock)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT value FROM retry.outbox ORDER BY id"))).all()
    for event in [decode_event(bytes(row.value)) for row in rows]:
        async with db.unit_of_work() as uow:
            await handler(uow.session, event)
            await uow.commit()
    dispatcher, close = make_dispatcher(settings, db, box, worker_id="e2e", clock=clock)
    try:
        await make_walker(settings, db, clock=clock).walk_due()
        while await dispatcher.send_due():
            pass
    finally:
        await close()


@pytest_asyncio.fixture
async def site(
    infra: Infra, clean_db: Database, box: SecretBox, tmp_path: Path, smtp: SmtpServer
) -> AsyncIterator[Site]:
    smtp.reset()
    async with clean_db.unit_of_work() as uow:
        tenant = await create_tenant(uow.session, box, "Acme Cloud")
        await uow.commit()
    settings = SystemSettings(
        data_dir=tmp_path / "data",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
        smtp_url=SecretStr(smtp.url()),
    )
    clock = FixedClock(NOW)
    app = build_system_app(settings, clean_db, box, Health())
    app.state.clock = clock
    async with serve_in_loop(app) as url:
        # Links in messages point at this server, as DUNNING_PUBLIC_URL points at the public host.
        settings = settings.model_copy(update={"public_url": url})
        opened_at = NOW - timedelta(hours=1)
        case_id = await open_case(
            clean_db, tenant.tenant_id, "in_1", opened_at, amount=4900, amount_due=4900, currency="USD"
        )
        # notify also hears ingest's payment.failed (its facts: invoice number, contact details).
        async with clean_db.unit_of_work() as uow:
            await NotifyEventHandler(clock)(
                uow.session,
                payment_failed(
                    tenant.tenant_id, "in_1", opened_at, amount=4900, amount_due=4900, currency="USD"
                ),
            )
            await uow.commit()
        await send_the_friendly_email(clean_db, settings, box, clock)
        [mail] = smtp.wait_for(1)
        body = mail.message.get_body(preferencelist=("plain",))
        assert body is not None
        assert case_id
        yield Site(url, clean_db, tenant.tenant_id, SelfServiceLinks(infra.secret_key), body.get_content())


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def no_script(page: Page) -> None:
    html = await page.content()
    assert "<script" not in html.lower()


async def test_promise_then_plan_from_the_link_in_the_email_without_javascript(
    site: Site, browser: Browser
) -> None:
    found = re.search(r"https?://\S+/pay/[A-Za-z0-9_-]+", site.email_text)
    assert found, site.email_text
    link = found.group(0)
    assert link.startswith(site.url)
    context = await browser.new_context(java_script_enabled=False, viewport={"width": 1024, "height": 900})
    page = await context.new_page()
    answer = await page.goto(link)
    assert answer is not None
    assert answer.status == 200
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#amount-due")).to_have_text("$49.00")
    await expect(page.locator("#why-text")).to_contain_text("Your bank didn't approve")
    await no_script(page)
    await shot(page, "01-page-en")

    # A promise: the date picker is a plain date input, the answer a redirect back to the page.
    pay_by = (NOW + timedelta(days=5)).date()
    await page.get_by_label("I will pay by").fill(pay_by.isoformat())
    await page.get_by_role("button", name="Confirm this date").click()
    await expect(page.locator("#confirmation")).to_contain_text("your date is saved")
    await expect(page.locator("#state")).to_contain_text("You told us you will pay by")
    assert "?done=promise" in page.url
    case_id = link.rsplit("/", 1)[1]
    opened = site.links.open(case_id, now=NOW)
    assert opened.link is not None
    case = await case_row(site.db, opened.link.case_id)
    assert case["status"] == "paused"
    assert "promise_to_pay" in case["pause_reasons"]
    await expect(page.get_by_role("heading", name="Choose a date to pay by")).to_have_count(0)
    await no_script(page)
    await shot(page, "02-promise-made")

    # Then a plan instead: three instalments, listed with their dates and statuses.
    await page.get_by_label(re.compile(r"3 payments of about \$16\.33")).check()
    await page.get_by_role("button", name="Ask for this plan").click()
    await expect(page.locator("#confirmation")).to_contain_text("your payment plan is set up")
    table = page.get_by_role("table", name="Your instalments")
    await expect(table.locator("tbody tr")).to_have_count(3)
    await expect(table.locator("tbody tr").first).to_contain_text("$16.34")
    await expect(table.locator("tbody tr").last).to_contain_text("Scheduled")
    case = await case_row(site.db, opened.link.case_id)
    assert case["status"] == "paused"
    assert "payment_plan" in case["pause_reasons"]
    await no_script(page)
    await shot(page, "03-plan-started")
    await context.close()


async def test_a_dispute_on_a_phone_in_japanese(site: Site, browser: Browser) -> None:
    case_id = await open_case(
        site.db,
        site.tenant_id,
        "in_2",
        NOW - timedelta(hours=2),
        amount=6000,
        amount_due=6000,
        currency="JPY",
    )
    token = site.links.make(tenant_id=site.tenant_id, case_id=case_id, now=NOW, locale="ja")
    context = await browser.new_context(viewport={"width": 320, "height": 640}, locale="ja-JP")
    page = await context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")  # /favicon.ico
            else None
        ),
    )
    answer = await page.goto(f"{site.url}/pay/{token}")
    assert answer is not None
    assert answer.status == 200
    await expect(page.locator("html")).to_have_attribute("lang", "ja")
    await expect(page.locator("#amount-due")).to_have_text("￥6,000")
    # Nothing wider than a 320 px screen: no sideways scrolling.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 320
    await page.get_by_role("button", name="Acme Cloudに送信する").click()
    # The browser's own check stops an empty required select: nothing was sent.
    assert "/dispute" not in page.url
    await page.get_by_label("どのような点でしょうか").select_option("already_paid")
    details = "詳しい内容（任意）"  # noqa: RUF001 - the page's own Japanese label
    await page.get_by_label(details).fill("3月10日に銀行振込で支払い済みです。")
    await page.get_by_role("button", name="Acme Cloudに送信する").click()
    await expect(page.locator("#confirmation")).to_contain_text("お知らせいただきありがとうございます")
    await expect(page.locator("#state")).to_contain_text("すでに支払った")
    case = await case_row(site.db, case_id)
    assert case["status"] == "paused"
    assert "customer_dispute" in case["pause_reasons"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= 320
    await no_script(page)
    await shot(page, "04-dispute-ja-320px")
    assert problems == []  # no CSP violation: the stylesheet applies, and nothing else is loaded
    await context.close()
