"""Where customers reach notify without an API key: the unsubscribe link of every message
(a page plus RFC 8058 one-click POST) and the inbound-SMS webhook that carries STOP replies."""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from dunning.common.auth import database
from dunning.common.clock import Clock, SystemClock
from dunning.common.db import Database
from dunning.common.events.notification import OptedOutData
from dunning.common.openapi import problem_response, problem_responses
from dunning.common.problems import Problem
from dunning.notify import delivery_store, escalation_events, repository
from dunning.notify.channels.sms import verify_twilio_signature
from dunning.notify.domain.channels import Channel
from dunning.notify.domain.compliance import normalize_address
from dunning.notify.domain.keywords import SmsKeyword, sms_keyword
from dunning.notify.settings import NotifySettings
from dunning.notify.tables import deliveries
from dunning.notify.unsubscribe import UnsubscribeTokens

public_router = APIRouter(prefix="/v1", tags=["customer-facing"])
DatabaseDep = Annotated[Database, Depends(database)]
Token = Annotated[str, Path(min_length=10, max_length=200)]
_MAX_FORM = 16 * 1024
_HELP_TEXT = "Payment reminders about your account. Reply STOP to opt out, START to opt back in."

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1 style="font-size:1.4rem">{title}</h1><p>{body}</p>{form}</body></html>"""


def _clock(request: Request) -> Clock:
    clock: Clock | None = getattr(request.app.state, "clock", None)
    return clock or SystemClock()


def _tokens(request: Request) -> UnsubscribeTokens:
    settings: NotifySettings = request.app.state.notify_settings
    return UnsubscribeTokens(settings.require_secret_key())


async def _delivery_for(request: Request, db: Database, token: str) -> dict[str, object]:
    delivery_id = _tokens(request).open(token)
    if delivery_id is None:
        raise Problem(404, "this unsubscribe link is not valid", kind="not-found")
    async with db.unit_of_work() as uow:
        found = await delivery_store.get(uow.session, delivery_id)
    if found is None or not found["address"]:
        raise Problem(404, "this unsubscribe link is not valid", kind="not-found")
    return dict(found)


@public_router.get("/unsubscribe/{token}", response_class=HTMLResponse, responses=problem_responses(404))
async def unsubscribe_page(request: Request, db: DatabaseDep, token: Token) -> HTMLResponse:
    """A confirmation page: link scanners that follow every GET must not unsubscribe anyone."""
    found = await _delivery_for(request, db, token)
    masked = html.escape(escalation_events.mask_address(str(found["address"])) or "")
    form = (
        f'<form method="post" action="/v1/unsubscribe/{html.escape(token)}">'
        '<button type="submit" style="font-size:1rem;padding:.5rem 1rem">Unsubscribe</button></form>'
    )
    body = f"Stop {html.escape(str(found['channel']))} messages about payments to {masked}?"
    return HTMLResponse(_PAGE.format(title="Unsubscribe", body=body, form=form))


@public_router.post("/unsubscribe/{token}", response_class=HTMLResponse, responses=problem_responses(404))
async def unsubscribe(request: Request, db: DatabaseDep, token: Token) -> HTMLResponse:
    """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``) and the page's button alike."""
    found = await _delivery_for(request, db, token)
    now = _clock(request).now()
    channel, address = str(found["channel"]), str(found["address"])
    customer_id = str(found["customer_id"]) if found["customer_id"] else None
    async with db.unit_of_work() as uow:
        new = await repository.add_opt_out(
            uow.session,
            tenant_id=str(found["tenant_id"]),
            channel=channel,
            address=address,
            customer_id=customer_id,
            source="unsubscribe_link",
        )
        if new:
            await escalation_events.opted_out(
                uow.session,
                OptedOutData(
                    tenant_id=str(found["tenant_id"]),
                    customer_id=customer_id,
                    occurred_at=now,
                    channel=channel,
                    address=escalation_events.mask_address(address),
                    source="unsubscribe_link",
                ),
                address=address,
            )
        await uow.commit()
    body = "You will not get these messages any more. It can take a few minutes to take effect everywhere."
    return HTMLResponse(_PAGE.format(title="Unsubscribed", body=body, form=""))


@public_router.post(
    "/sms/inbound",
    summary="Inbound SMS (Twilio webhook): STOP / START replies",
    response_class=Response,
    responses={
        200: {"description": "TwiML", "content": {"application/xml": {"schema": {"type": "string"}}}},
        **problem_responses(400, 404, 413),
        403: problem_response(403, "The X-Twilio-Signature does not match (problem+json)"),
    },
)
async def sms_inbound(request: Request, db: DatabaseDep) -> Response:
    settings: NotifySettings = request.app.state.notify_settings
    if settings.sms_auth_token is None:
        raise Problem(404, "no SMS provider is configured", kind="not-found")
    raw = await request.body()
    if len(raw) > _MAX_FORM:
        raise Problem(413, "inbound SMS form too large", kind="too-large")
    # Twilio posts application/x-www-form-urlencoded; parsed here, no multipart parser needed.
    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise Problem(400, "inbound SMS form is not UTF-8", kind="malformed") from None
    url = f"{settings.public_base()}/v1/sms/inbound"
    signature = request.headers.get("x-twilio-signature", "")
    if not verify_twilio_signature(settings.sms_auth_token.get_secret_value(), url, form, signature):
        raise Problem(403, "the X-Twilio-Signature does not match", kind="bad-signature")
    sender, body = form.get("From", ""), form.get("Body", "")
    keyword = sms_keyword(body)
    if sender and keyword in (SmsKeyword.STOP, SmsKeyword.START):
        await _apply_keyword(db, _clock(request), normalize_address(Channel.SMS, sender), keyword)
    if keyword is SmsKeyword.HELP:
        # CTIA: HELP gets who we are and how to stop. The number is shared, so no tenant's name.
        return Response(
            f"<Response><Message>{html.escape(_HELP_TEXT)}</Message></Response>", media_type="application/xml"
        )
    # An empty TwiML answer: the carrier sends its own compliant STOP/START confirmation.
    return Response("<Response/>", media_type="application/xml")


async def _apply_keyword(db: Database, clock: Clock, address: str, keyword: SmsKeyword) -> None:
    """Our sending number is shared by every tenant: a STOP to it opts the number out of all of
    them that ever texted it (the safe reading of 47 CFR 64.1200(a)(10))."""
    now = clock.now()
    async with db.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(deliveries.c.tenant_id, deliveries.c.customer_id)
            .where(deliveries.c.channel == "sms", deliveries.c.address == address)
            .distinct()
        )
        for tenant_id, customer_id in rows:
            if keyword is SmsKeyword.STOP:
                changed = await repository.add_opt_out(
                    uow.session,
                    tenant_id=tenant_id,
                    channel="sms",
                    address=address,
                    customer_id=customer_id,
                    source="sms_keyword",
                )
            else:
                changed = await repository.remove_opt_out(
                    uow.session, tenant_id=tenant_id, channel="sms", address=address
                )
            if changed:
                await escalation_events.opted_out(
                    uow.session,
                    OptedOutData(
                        tenant_id=tenant_id,
                        customer_id=customer_id,
                        occurred_at=now,
                        channel="sms",
                        address=escalation_events.mask_address(address),
                        source="sms_keyword",
                        opted_in=keyword is SmsKeyword.START,
                    ),
                    address=address,
                )
        await uow.commit()
