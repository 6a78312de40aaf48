"""The customer's self-service page over HTTP against real PostgreSQL: what it shows in en/ja/ko,
what each form does to the case, and that every bad request is refused clearly, changing nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from tests.conftest import Infra
from tests.support.selfservice import case_row, count_rows, open_case
from tests.support.stripe_fake import FakeStripe

from dunning.cli.settings import SystemSettings
from dunning.cli.system import build_system_app
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health
from dunning.common.selfservice_link import SelfServiceLinks
from dunning.common.tenancy.service import CreatedTenant, create_tenant, set_processor_key
from dunning.retry.collections.tables import customer_disputes as disputes
from dunning.retry.collections.tables import instalments, plans, promises

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

NOW = datetime.now(UTC).replace(microsecond=0)
PUBLIC = "https://dunning.example.com"


@dataclass
class Page:
    http: httpx.AsyncClient
    db: Database
    links: SelfServiceLinks
    tenant: CreatedTenant
    box: SecretBox

    def link(
        self, case_id: str, *, locale: str | None = None, tenant_id: str | None = None, now: datetime = NOW
    ) -> str:
        return self.links.make(
            tenant_id=tenant_id or self.tenant.tenant_id, case_id=case_id, now=now, locale=locale
        )

    async def case(self, invoice_id: str = "in_1", **overrides: object) -> str:
        return await open_case(
            self.db, self.tenant.tenant_id, invoice_id, NOW - timedelta(days=2), **overrides
        )

    async def form_token(self, token: str, form: str) -> str:
        page = await self.http.get(f"/pay/{token}")
        assert page.status_code == 200, page.text
        action = rf'action="/pay/{re.escape(token)}/{form}[^"]*">\s*'
        found = re.search(action + r'<input type="hidden" name="form_token" value="([^"]+)"', page.text)
        assert found, f"no {form} form on the page"
        return found.group(1)

    async def post(self, token: str, form: str, **fields: str) -> httpx.Response:
        if "form_token" not in fields:
            fields["form_token"] = await self.form_token(token, form)
        return await self.http.post(f"/pay/{token}/{form}", data=fields)


@pytest_asyncio.fixture
async def page(
    infra: Infra, clean_db: Database, box: SecretBox, tmp_path: Path, stripe_server: tuple[FakeStripe, str]
) -> AsyncIterator[Page]:
    async with clean_db.unit_of_work() as uow:
        tenant = await create_tenant(uow.session, box, "Acme Cloud")
        await uow.commit()
    settings = SystemSettings(
        data_dir=tmp_path / "data",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        secret_key=SecretStr(infra.secret_key),
        public_url=PUBLIC,
        stripe_api_base=stripe_server[1],
    )
    app = build_system_app(settings, clean_db, box, Health())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dunning.test") as http:
        yield Page(http, clean_db, SelfServiceLinks(infra.secret_key), tenant, box)


def visible(html: str) -> str:
    """The page's text, tags dropped, so assertions read like what a person sees."""
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.DOTALL))
    return re.sub(r"\s+", " ", unescape(text))


async def test_the_page_shows_what_is_owed_and_why_in_english_with_strict_headers(page: Page) -> None:
    token = page.link(await page.case(), locale="en")
    answer = await page.http.get(f"/pay/{token}")
    assert answer.status_code == 200
    html = answer.text
    assert '<html lang="en">' in html
    shown = visible(html)
    assert "€45.00" in shown
    assert "Hi Jo Doe," in shown
    assert "Your invoice from Acme Cloud" in shown
    assert "Your bank didn't approve the last payment attempt" in shown
    for heading in ("Pay or update your payment method", "Choose a date to pay by", "Pay in instalments"):
        assert heading in shown
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]*\son\w+\s*=", html)  # no inline event handlers either
    headers = answer.headers
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-robots-tag"].startswith("noindex")
    # Every input has a label; the radio group and the reasons are in fieldsets with legends.
    for field in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html):
        if field != "instalments":
            assert f'<label for="{field}">' in html, field
    assert "<legend>Choose a plan</legend>" in html


@pytest.mark.parametrize(
    ("locale", "currency", "amount", "shown_amount", "words"),
    [
        (
            "ja",
            "JPY",
            6000,
            "￥6,000",
            ["Jo Doe 様", "ご請求金額", "お支払い予定日を伝える", "分割でのお支払い"],
        ),
        ("ko", "KRW", 55000, "₩55,000", ["Jo Doe 고객님", "청구 금액", "결제 예정일 알려 주기", "분할 납부"]),
    ],
)
async def test_the_page_speaks_the_language_the_link_was_sent_in(
    page: Page, locale: str, currency: str, amount: int, shown_amount: str, words: list[str]
) -> None:
    case_id = await page.case(currency=currency, amount=amount, amount_due=amount)
    answer = await page.http.get(f"/pay/{page.link(case_id, locale=locale)}")
    assert answer.status_code == 200
    assert f'<html lang="{locale}">' in answer.text
    shown = visible(answer.text)
    assert shown_amount in shown
    for word in words:
        assert word in shown


async def test_lang_overrides_the_link_and_accept_language_is_the_fallback(page: Page) -> None:
    case_id = await page.case()
    with_locale = page.link(case_id, locale="ja")
    assert '<html lang="ko">' in (await page.http.get(f"/pay/{with_locale}?lang=ko")).text
    assert '<html lang="ja">' in (await page.http.get(f"/pay/{with_locale}?lang=xx")).text
    bare = page.link(case_id)
    headers = {"Accept-Language": "fr-FR, ko;q=0.8, ja;q=0.5"}
    assert '<html lang="ko">' in (await page.http.get(f"/pay/{bare}", headers=headers)).text
    assert '<html lang="en">' in (await page.http.get(f"/pay/{bare}", headers={"Accept-Language": "fr"})).text
    # The switcher keeps the token and names each language in itself.
    html = (await page.http.get(f"/pay/{bare}")).text
    assert f'href="/pay/{bare}?lang=ja"' in html
    assert "日本語" in html


async def test_a_promise_pauses_dunning_and_the_page_shows_it(page: Page) -> None:
    case_id = await page.case()
    token = page.link(case_id, locale="en")
    form_token = await page.form_token(token, "promise")
    pay_by = (NOW + timedelta(days=5)).date()
    answer = await page.post(token, "promise", pay_by=pay_by.isoformat(), form_token=form_token)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/pay/{token}?done=promise"
    case = await case_row(page.db, case_id)
    assert case["status"] == "paused"
    assert "promise_to_pay" in case["pause_reasons"]
    shown = visible((await page.http.get(answer.headers["location"])).text)
    assert "Thank you, your date is saved." in shown
    assert "You told us you will pay by" in shown
    assert "Choose a date to pay by" not in shown  # one promise at a time
    # The same form sent again (a double click, a replay) is refused and changes nothing.
    again = await page.post(token, "promise", pay_by=pay_by.isoformat(), form_token=form_token)
    assert again.status_code == 403
    assert "This form is out of date" in visible(again.text)
    assert await count_rows(page.db, promises, case_id) == 1


async def test_a_plan_lists_its_instalments_and_an_unknown_choice_changes_nothing(page: Page) -> None:
    case_id = await page.case(invoice_id="in_plan")
    token = page.link(case_id, locale="en")
    html = (await page.http.get(f"/pay/{token}")).text
    offered = re.findall(r'name="instalments" value="(\d+)"', html)
    assert offered
    assert "3" in offered
    refused = await page.post(token, "plan", instalments="99")
    assert refused.status_code == 422
    assert 'aria-describedby="instalments-error"' in refused.text
    assert "Please choose one of the plans listed." in visible(refused.text)
    refused = await page.post(token, "plan", instalments="three")
    assert refused.status_code == 422
    assert await count_rows(page.db, plans, case_id) == 0
    answer = await page.post(token, "plan", instalments="3")
    assert answer.status_code == 303
    after = await page.http.get(answer.headers["location"])
    rows = re.findall(r"<tr><td>(\d)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", after.text)
    assert [(number, amount, status) for number, _, amount, status in rows] == [
        ("1", "€15.00", "Scheduled"),
        ("2", "€15.00", "Scheduled"),
        ("3", "€15.00", "Scheduled"),
    ]
    assert "your payment plan is set up" in visible(after.text)
    assert await count_rows(page.db, instalments, case_id) == 3
    assert "payment_plan" in (await case_row(page.db, case_id))["pause_reasons"]


async def test_a_dispute_pauses_dunning_and_says_so(page: Page) -> None:
    case_id = await page.case(invoice_id="in_dispute")
    token = page.link(case_id, locale="en")
    too_long = await page.post(token, "dispute", reason="wrong_amount", details="x" * 2001)
    assert too_long.status_code == 422
    assert "Please keep it to 2000 characters or fewer." in visible(too_long.text)
    assert 'aria-describedby="details-hint details-error" aria-invalid="true"' in too_long.text
    no_reason = await page.post(token, "dispute", reason="", details="hm")
    assert no_reason.status_code == 422
    assert "Please choose what is wrong." in visible(no_reason.text)
    assert await count_rows(page.db, disputes, case_id) == 0
    answer = await page.post(
        token, "dispute", reason="wrong_amount", details="I was billed for 3 seats, we have 2."
    )
    assert answer.status_code == 303
    shown = visible((await page.http.get(answer.headers["location"])).text)
    assert "Thank you for telling us. Acme Cloud will look into it" in shown
    assert "You told us something is wrong with this invoice (The amount is wrong)" in shown
    assert "Choose a date to pay by" not in shown
    assert "Pay in instalments" not in shown
    case = await case_row(page.db, case_id)
    assert case["status"] == "paused"
    assert "customer_dispute" in case["pause_reasons"]


async def test_a_bad_link_says_so_in_a_page_and_changes_nothing(page: Page) -> None:
    case_id = await page.case()
    token = page.link(case_id, locale="ja")
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    answer = await page.http.get(f"/pay/{tampered}")
    assert answer.status_code == 404
    assert "This link doesn't work" in visible(answer.text)
    assert answer.headers["content-type"].startswith("text/html")
    assert (await page.http.get("/pay/not-a-token-at-all")).status_code == 404
    assert (await page.http.get(f"/pay/{'A' * 5000}")).status_code == 404
    expired = page.link(case_id, locale="ja", now=NOW - timedelta(days=46))
    answer = await page.http.get(f"/pay/{expired}")
    assert answer.status_code == 410
    assert '<html lang="ja">' in answer.text
    assert "有効期限が切れています" in answer.text
    # Signed by us, but for a case of another tenant: as good as no case at all.
    async with page.db.unit_of_work() as uow:
        other = await create_tenant(uow.session, page.box, "Other")
        await uow.commit()
    foreign = page.link(case_id, tenant_id=other.tenant_id)
    assert (await page.http.get(f"/pay/{foreign}")).status_code == 404
    pay_by = (NOW + timedelta(days=3)).date().isoformat()
    form_token = await page.form_token(token, "promise")
    for bad in (tampered, expired, foreign):
        answer = await page.http.post(
            f"/pay/{bad}/promise", data={"pay_by": pay_by, "form_token": form_token}
        )
        assert answer.status_code in (404, 410)
    assert await count_rows(page.db, promises, case_id) == 0
    assert (await case_row(page.db, case_id))["status"] == "open"


async def test_forms_without_their_token_or_with_bad_input_are_refused_and_change_nothing(page: Page) -> None:
    case_id = await page.case()
    token = page.link(case_id, locale="en")
    other_token = page.link(await page.case(invoice_id="in_other"), locale="en")
    pay_by = (NOW + timedelta(days=3)).date().isoformat()
    missing = await page.http.post(f"/pay/{token}/promise", data={"pay_by": pay_by})
    assert missing.status_code == 403
    borrowed = await page.form_token(other_token, "promise")
    assert (await page.post(token, "promise", pay_by=pay_by, form_token=borrowed)).status_code == 403
    for malformed in ("03/20/2030", "2030-02-30", "", "2030-1-1"):
        answer = await page.post(token, "promise", pay_by=malformed)
        assert answer.status_code == 422, malformed
        assert 'aria-describedby="pay_by-hint pay_by-error" aria-invalid="true"' in answer.text
    too_far = (NOW + timedelta(days=400)).date().isoformat()
    answer = await page.post(token, "promise", pay_by=too_far)
    assert answer.status_code == 422
    assert "Please choose a date on or before" in visible(answer.text)
    form_token = await page.form_token(token, "dispute")
    huge = await page.http.post(
        f"/pay/{token}/dispute", data={"form_token": form_token, "reason": "other", "details": "x" * 20_000}
    )
    assert huge.status_code == 413
    as_json = await page.http.post(
        f"/pay/{token}/dispute", json={"form_token": form_token, "reason": "other"}
    )
    assert as_json.status_code == 415
    assert await count_rows(page.db, promises, case_id) == 0
    assert await count_rows(page.db, disputes, case_id) == 0
    assert (await case_row(page.db, case_id))["status"] == "open"


async def test_update_payment_method_hands_off_to_the_portal_or_the_hosted_invoice(
    page: Page, fake: FakeStripe
) -> None:
    case_id = await page.case()
    token = page.link(case_id, locale="ja")
    # No Stripe key for the tenant: the invoice's hosted page.
    answer = await page.post(token, "method")
    assert answer.status_code == 303
    assert answer.headers["location"] == "https://invoice.stripe.test/i/1"
    # With a key and the customer at Stripe: a customer portal session, in the page's language,
    # coming back to the page.
    fake.add_customer(id="cus_1")
    async with page.db.unit_of_work() as uow:
        await set_processor_key(uow.session, page.box, page.tenant.tenant_id, "stripe", "sk_test_" + "x" * 24)
        await uow.commit()
    answer = await page.post(token, "method")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("https://billing.stripe.test/p/session/bps_")
    [request] = [r for r in fake.request_log if r.path == "/v1/billing_portal/sessions"]
    assert (request.method, request.status) == ("POST", 200)
    # Stripe refusing (an unknown customer): the hosted invoice again, never an error page.
    other = await page.case(invoice_id="in_2", customer_id="cus_unknown")
    answer = await page.post(page.link(other), "method")
    assert answer.status_code == 303
    assert answer.headers["location"] == "https://invoice.stripe.test/i/1"


async def test_one_link_is_rate_limited(page: Page) -> None:
    token = page.link(await page.case())
    answers = [await page.http.get(f"/pay/{token}") for _ in range(32)]
    assert answers[0].status_code == 200
    assert answers[-1].status_code == 429
    assert int(answers[-1].headers["retry-after"]) >= 1
    # Another customer's link is not held back by it.
    assert (await page.http.get(f"/pay/{page.link(await page.case(invoice_id='in_x'))}")).status_code == 200
