"""``/pay/{token}``: the customer's self-service page, public and login-free. A signed link opens
it; each form is a plain POST answered with a redirect back to the page (Post/Redirect/Get)."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dunning.common.clock import Clock, SystemClock
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.ratelimit import KeyRateLimiter
from dunning.common.selfservice_link import LinkState, SelfServiceLink, SelfServiceLinks
from dunning.common.settings import CommonSettings
from dunning.common.tenancy.tables import tenants
from dunning.retry.collections import service
from dunning.retry.collections.service import MAX_DISPUTE_DETAILS, CollectionsRefused, SelfServiceView
from dunning.retry.selfservice import portal
from dunning.retry.selfservice.openapi import FORM_ROUTE, PAGE_ROUTE
from dunning.retry.selfservice.page import (
    SECURITY_HEADERS,
    PageInput,
    page_url,
    render_error,
    render_page,
    state_of,
)
from dunning.retry.selfservice.wording import Wording, choose_language, supported

log = structlog.get_logger(__name__)
router = APIRouter(tags=["customer-facing"])

_MAX_FORM: Final = 8 * 1024  # the longest honest form: a dispute's 2000 characters, escaped
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_COUNT: Final = re.compile(r"\d{1,3}")
_FIELD_OF: Final = {
    "promise_in_past": "pay_by",
    "promise_too_far": "pay_by",
    "promise_not_allowed": "pay_by",
    "promise_active": "pay_by",
    "plan_not_allowed": "instalments",
    "plan_out_of_limits": "instalments",
    "plan_active": "instalments",
    "amount_unknown": "instalments",
    "invalid_reason": "reason",
    "invalid_details": "details",
}
_WORDS_OF: Final = {"invalid_reason": "reason_missing", "invalid_details": "details_too_long"}
_CONFLICTS: Final = frozenset({"case_not_open", "dispute_open", "promise_active", "plan_active"})


@dataclass(frozen=True, slots=True)
class SelfServiceConfig:
    db: Database
    box: SecretBox
    links: SelfServiceLinks
    public_base: str
    stripe_api_base: str | None
    limiter: KeyRateLimiter


def install(app: FastAPI, settings: CommonSettings, box: SecretBox, *, stripe_api_base: str | None) -> None:
    """What the page needs at request time; the app's ``state.db`` must be set before requests."""
    app.state.selfservice = SelfServiceConfig(
        db=app.state.db,
        box=box,
        links=SelfServiceLinks(settings.require_secret_key()),
        public_base=settings.public_base(),
        stripe_api_base=stripe_api_base,
        # Per link: a person clicks a few times a minute; a script hammering one link is slowed.
        limiter=KeyRateLimiter(rate=0.5, burst=30),
    )


@dataclass(frozen=True, slots=True)
class Visit:
    token: str
    link: SelfServiceLink
    lang_override: str | None
    accept_language: str | None
    now: datetime
    links: SelfServiceLinks

    def wording(self, view: SelfServiceView | None = None) -> Wording:
        candidates = (self.lang_override, self.link.locale, view.locale if view else None)
        return Wording(choose_language(candidates, self.accept_language))


def _config(request: Request) -> SelfServiceConfig:
    config: SelfServiceConfig = request.app.state.selfservice
    return config


def _clock(request: Request) -> Clock:
    clock: Clock | None = getattr(request.app.state, "clock", None)
    return clock or SystemClock()


def _open(request: Request, token: str) -> Visit | Response:
    """The link's contents, or the page that says why it does not open (nothing is read or changed)."""
    config = _config(request)
    override = supported(request.query_params.get("lang"))
    accept = request.headers.get("accept-language")
    wait = config.limiter.acquire(hashlib.sha256(token.encode()).hexdigest()[:32])
    opened = config.links.open(token, now=_clock(request).now())
    locale = opened.link.locale if opened.link else None
    t = Wording(choose_language((override, locale), accept))
    if wait > 0:
        return render_error(t, "busy", 429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
    if opened.state is LinkState.INVALID or opened.link is None:
        return render_error(t, "invalid", 404)
    if opened.state is LinkState.EXPIRED:
        return render_error(t, "expired", 410)
    return Visit(token, opened.link, override, accept, _clock(request).now(), config.links)


async def _merchant(session: AsyncSession, tenant_id: str) -> str:
    name = await session.scalar(select(tenants.c.name).where(tenants.c.id == tenant_id))
    return str(name or "")


async def _view(session: AsyncSession, visit: Visit) -> SelfServiceView | None:
    return await service.self_service_view(
        session, tenant_id=visit.link.tenant_id, case_id=visit.link.case_id, now=visit.now
    )


@router.get("/pay/{token}", response_class=HTMLResponse, **PAGE_ROUTE)
async def self_service_page(request: Request, token: str) -> Response:
    """The customer's page: what is owed and why, and what they can do about it.

    Query: ``lang`` (en, ja, ko) overrides the link's language; ``done`` (promise, plan,
    dispute) shows the confirmation after a form was sent."""
    visit = _open(request, token)
    if not isinstance(visit, Visit):
        return visit
    async with _config(request).db.unit_of_work() as uow:
        view = await _view(uow.session, visit)
        merchant = await _merchant(uow.session, visit.link.tenant_id)
    if view is None:
        return render_error(visit.wording(), "invalid", 404)
    return _render(visit, view, merchant, done=request.query_params.get("done"))


def _render(visit: Visit, view: SelfServiceView, merchant: str, **extra: Any) -> HTMLResponse:
    return render_page(
        view=view,
        token=visit.token,
        links=visit.links,
        t=visit.wording(view),
        merchant=merchant,
        lang_override=visit.lang_override,
        now=visit.now,
        **extra,
    )


async def _read_form(request: Request, t: Wording) -> dict[str, str] | Response:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return render_error(t, "unsupported", 415)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_FORM:
        return render_error(t, "too_large", 413)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_FORM:
            return render_error(t, "too_large", 413)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return render_error(t, "unsupported", 400)
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)  # the first of a repeated field counts, as a browser sends one
    return fields


class _Action:
    """One form's POST: open the link, read the form, check its token against the state shown."""

    def __init__(self, request: Request, token: str, form: str) -> None:
        self.request, self.token, self.form = request, token, form

    async def prepare(
        self, session: AsyncSession
    ) -> tuple[Visit, SelfServiceView, str, dict[str, str]] | Response:
        visit = _open(self.request, self.token)
        if not isinstance(visit, Visit):
            return visit
        fields = await _read_form(self.request, visit.wording())
        if not isinstance(fields, dict):
            return fields
        view = await _view(session, visit)
        if view is None:
            return render_error(visit.wording(), "invalid", 404)
        state = "" if self.form == "method" else state_of(view)
        if not visit.links.form_token_valid(fields.get("form_token", ""), self.token, self.form, state):
            back = page_url(self.token, visit.lang_override)
            return render_error(visit.wording(view), "form", 403, back_url=back)
        return visit, view, await _merchant(session, visit.link.tenant_id), fields


def _done(visit: Visit, form: str) -> Response:
    return RedirectResponse(
        page_url(visit.token, visit.lang_override, done=form), status_code=303, headers=SECURITY_HEADERS
    )


def _refused(
    visit: Visit, view: SelfServiceView, merchant: str, refusal: CollectionsRefused, given: PageInput
) -> Response:
    t = visit.wording(view)
    key = f"error.{_WORDS_OF.get(refusal.code, refusal.code)}"
    latest = t.day(view.promise_latest) if view.promise_latest else ""
    message = t(key, latest=latest, max=MAX_DISPUTE_DETAILS) if t.has(key) else t("error.generic")
    field = _FIELD_OF.get(refusal.code)
    if field:
        given.errors[field] = message
    else:
        given.general_error = message
    log.info("self-service request refused", case_id=view.case_id, code=refusal.code)
    status = 409 if refusal.code in _CONFLICTS else 422
    return _render(visit, view, merchant, given=given, status_code=status)


@router.post("/pay/{token}/promise", response_class=HTMLResponse, **FORM_ROUTE)
async def promise(request: Request, token: str) -> Response:
    """Promise to pay by a date: reminders and retries wait until then."""
    async with _config(request).db.unit_of_work() as uow:
        prepared = await _Action(request, token, "promise").prepare(uow.session)
        if isinstance(prepared, Response):
            return prepared
        visit, view, merchant, fields = prepared
        given = PageInput(pay_by=fields.get("pay_by", "").strip()[:20])
        t = visit.wording(view)
        pay_by = _parse_date(given.pay_by)
        if pay_by is None:
            given.errors["pay_by"] = t(
                "error.date_invalid", example=t.day(view.promise_latest or visit.now.date())
            )
            return _render(visit, view, merchant, given=given, status_code=422)
        try:
            await service.promise_to_pay(
                uow.session,
                tenant_id=visit.link.tenant_id,
                case_id=visit.link.case_id,
                pay_by=pay_by,
                source="customer",
                actor=None,
                now=visit.now,
            )
        except CollectionsRefused as refusal:
            return _refused(visit, view, merchant, refusal, given)
        await uow.commit()
    log.info("self-service promise made", case_id=view.case_id)
    return _done(visit, "promise")


@router.post("/pay/{token}/plan", response_class=HTMLResponse, **FORM_ROUTE)
async def plan(request: Request, token: str) -> Response:
    """Ask for one of the payment plans on offer: each instalment is charged on its date."""
    async with _config(request).db.unit_of_work() as uow:
        prepared = await _Action(request, token, "plan").prepare(uow.session)
        if isinstance(prepared, Response):
            return prepared
        visit, view, merchant, fields = prepared
        given = PageInput(instalments=fields.get("instalments", "").strip()[:10])
        offered = {option.instalments for option in view.plan_options}
        if not _COUNT.fullmatch(given.instalments) or int(given.instalments) not in offered:
            given.errors["instalments"] = visit.wording(view)("error.plan_choice")
            return _render(visit, view, merchant, given=given, status_code=422)
        try:
            await service.request_payment_plan(
                uow.session,
                tenant_id=visit.link.tenant_id,
                case_id=visit.link.case_id,
                instalments=int(given.instalments),
                source="customer",
                actor=None,
                now=visit.now,
            )
        except CollectionsRefused as refusal:
            return _refused(visit, view, merchant, refusal, given)
        await uow.commit()
    log.info("self-service payment plan requested", case_id=view.case_id)
    return _done(visit, "plan")


@router.post("/pay/{token}/dispute", response_class=HTMLResponse, **FORM_ROUTE)
async def dispute(request: Request, token: str) -> Response:
    """Tell the merchant the invoice is wrong: dunning pauses until they answer."""
    async with _config(request).db.unit_of_work() as uow:
        prepared = await _Action(request, token, "dispute").prepare(uow.session)
        if isinstance(prepared, Response):
            return prepared
        visit, view, merchant, fields = prepared
        details = fields.get("details", "").replace("\r\n", "\n").replace("\x00", "").strip()
        given = PageInput(
            reason=fields.get("reason", "").strip()[:40], details=details[: MAX_DISPUTE_DETAILS * 2]
        )
        t = visit.wording(view)
        if given.reason not in view.dispute_reasons:
            given.errors["reason"] = t("error.reason_missing")
        if len(details) > MAX_DISPUTE_DETAILS:
            given.errors["details"] = t("error.details_too_long", max=MAX_DISPUTE_DETAILS)
        if given.errors:
            return _render(visit, view, merchant, given=given, status_code=422)
        try:
            await service.open_dispute(
                uow.session,
                tenant_id=visit.link.tenant_id,
                case_id=visit.link.case_id,
                reason=given.reason,
                details=details or None,
                source="customer",
                actor=None,
                now=visit.now,
            )
        except CollectionsRefused as refusal:
            return _refused(visit, view, merchant, refusal, given)
        await uow.commit()
    log.info("self-service dispute opened", case_id=view.case_id)
    return _done(visit, "dispute")


@router.post("/pay/{token}/method", response_class=HTMLResponse, **FORM_ROUTE)
async def payment_method(request: Request, token: str) -> Response:
    """Hand the customer to the processor's hosted page (a billing portal session, else the invoice)."""
    config = _config(request)
    async with config.db.unit_of_work() as uow:
        prepared = await _Action(request, token, "method").prepare(uow.session)
        if isinstance(prepared, Response):
            return prepared
        visit, view, merchant, _fields = prepared
        target = await portal.prepare(uow.session, config.box, view)
    return_url = f"{config.public_base}{page_url(visit.token, visit.lang_override)}"
    url = await portal.hosted_page(
        target, stripe_api_base=config.stripe_api_base, return_url=return_url, locale=visit.wording(view).lang
    )
    if url is None:
        given = PageInput(errors={"method": visit.wording(view)("error.payment_page_unavailable")})
        return _render(visit, view, merchant, given=given, status_code=503)
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def _parse_date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
