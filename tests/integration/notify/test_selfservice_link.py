"""Every message about an unpaid case carries the customer's own self-service link, signed for
that tenant and case and in the language the message was written in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from tests.integration.notify.conftest import NotifyWorld

from dunning.common.selfservice_link import LinkState, SelfServiceLinks

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

LINK = re.compile(r"https://dunning\.example\.com/pay/([A-Za-z0-9_-]+)")


async def test_the_email_and_the_in_app_notice_carry_a_signed_link_to_the_page(world: NotifyWorld) -> None:
    await world.set_contact(locale="ja")
    case_id = await world.open_case()
    await world.run()

    [mail] = world.smtp.wait_for(1)
    text = mail.message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    [token] = set(LINK.findall(text))
    assert f'href="https://dunning.example.com/pay/{token}"' in html
    # The hosted invoice stays as the direct way to pay.
    assert "https://pay.example.com/i/1" in text
    links = SelfServiceLinks(world.settings.require_secret_key())
    opened = links.open(token, now=world.clock.now())
    assert opened.state is LinkState.VALID
    assert opened.link is not None
    assert (opened.link.tenant_id, opened.link.case_id, opened.link.locale) == (
        world.tenant_id,
        case_id,
        "ja",
    )
    assert opened.link.expires_at == world.clock.now() + timedelta(days=world.settings.self_service_link_days)

    [notice] = await world.deliveries(case_id=case_id, channel="in_app")
    assert LINK.search(notice["body_text"])
