"""The notify service's ``/v1`` slice (tenant API key): escalation policy, templates and preview,
notifications, the in-app feed, customer contacts, endpoints and the embedded mailbox."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import ValidationError
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from dunning.common.auth import AdminPrincipal, ReadPrincipal, WritePrincipal, database
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.openapi import problem_responses
from dunning.common.pagination import decode_cursor, encode_cursor
from dunning.common.problems import Problem
from dunning.notify import repository
from dunning.notify.channels.eml_outbox import list_eml, read_eml
from dunning.notify.channels.webhooks import new_webhook_secret
from dunning.notify.contacts import resolve
from dunning.notify.content.defaults import default_template
from dunning.notify.content.facts import sample_facts
from dunning.notify.content.render import TemplateProblem, TemplateSource, render, validate
from dunning.notify.content.sms import sms_segments
from dunning.notify.domain.channels import SUPPORTED_LOCALES, Channel, TemplateName
from dunning.notify.escalation_events import mask_address
from dunning.notify.policy_schema import NotifyPolicyBody
from dunning.notify.public_api import public_router
from dunning.notify.schemas import (
    ContactBody,
    ContactView,
    EndpointBody,
    EndpointView,
    MailItem,
    Notice,
    NoticePage,
    Notification,
    NotificationPage,
    OptOut,
    PreviewAnswer,
    PreviewRequest,
    TemplateBody,
    TemplateView,
)
from dunning.notify.settings import NotifySettings
from dunning.notify.tables import deliveries

__all__ = ["mail_folder", "public_router", "routers"]

policy_router = APIRouter(prefix="/v1/escalation-policy", tags=["escalation policy"])
template_router = APIRouter(prefix="/v1/templates", tags=["templates"])
notification_router = APIRouter(prefix="/v1", tags=["notifications"])

DatabaseDep = Annotated[Database, Depends(database)]
CustomerId = Annotated[str, Path(min_length=1, max_length=255)]
_ENDPOINT_KINDS = ("platform", "agency")


def routers() -> list[APIRouter]:
    return [policy_router, template_router, notification_router]


def notify_settings(request: Request) -> NotifySettings:
    settings: NotifySettings = request.app.state.notify_settings
    return settings


def secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


SettingsDep = Annotated[NotifySettings, Depends(notify_settings)]


def mail_folder(settings: NotifySettings, tenant_id: str) -> FsPath:
    return settings.data_dir / "mail" / tenant_id


# -- escalation policy ---------------------------------------------------------------------------


@policy_router.get("", response_model=NotifyPolicyBody, summary="The tenant's escalation policy")
async def get_policy(principal: ReadPrincipal, db: DatabaseDep) -> NotifyPolicyBody:
    async with db.unit_of_work() as uow:
        return await repository.policy_of(uow.session, principal.tenant_id)


@policy_router.put("", response_model=NotifyPolicyBody, summary="Replace the tenant's escalation policy")
async def put_policy(principal: WritePrincipal, db: DatabaseDep, body: NotifyPolicyBody) -> NotifyPolicyBody:
    # Cases already escalating keep the policy they started with (a snapshot); new cases use this.
    async with db.unit_of_work() as uow:
        await repository.save_policy(uow.session, principal.tenant_id, body)
        await uow.commit()
    return body


# -- templates -----------------------------------------------------------------------------------


def _template_key(template: str, channel: str, locale: str) -> tuple[TemplateName, Channel, str]:
    try:
        return TemplateName(template), Channel(channel), _locale(locale)
    except ValueError:
        raise Problem(
            404,
            f"templates are named {', '.join(t.value for t in TemplateName)} for channels "
            f"{', '.join(c.value for c in Channel)} in {', '.join(SUPPORTED_LOCALES)}",
            kind="not-found",
        ) from None


def _locale(locale: str) -> str:
    if locale not in SUPPORTED_LOCALES:
        raise ValueError(locale)
    return locale


@template_router.get(
    "/{template}/{channel}/{locale}",
    response_model=TemplateView,
    summary="A template",
    responses=problem_responses(404),
)
async def get_template(
    principal: ReadPrincipal, db: DatabaseDep, template: str, channel: str, locale: str
) -> TemplateView:
    name, chan, loc = _template_key(template, channel, locale)
    async with db.unit_of_work() as uow:
        found = await repository.template_override(
            uow.session, principal.tenant_id, name.value, chan.value, loc
        )
    if found is not None:
        return TemplateView(
            template=name.value,
            channel=chan.value,
            locale=loc,
            source="tenant",
            subject=found["subject"],
            text=found["text"],
            html=found["html"],
        )
    default = default_template(name, chan, loc)
    return TemplateView(
        template=name.value,
        channel=chan.value,
        locale=loc,
        source="default",
        subject=default.subject,
        text=default.text,
        html=default.html,
    )


@template_router.put(
    "/{template}/{channel}/{locale}",
    response_model=TemplateView,
    summary="Override a template",
    responses=problem_responses(404),
)
async def put_template(
    principal: WritePrincipal, db: DatabaseDep, template: str, channel: str, locale: str, body: TemplateBody
) -> TemplateView:
    name, chan, loc = _template_key(template, channel, locale)
    source = TemplateSource(subject=body.subject, text=body.text, html=body.html)
    problems = validate(source, chan)
    if not problems:
        try:  # it must render against a realistic case, not only parse
            render(source, sample_facts(loc), locale=loc, channel=chan)
        except TemplateProblem as exc:
            problems = [str(exc)]
    if problems:
        raise Problem(422, "; ".join(problems), kind="invalid-template")
    async with db.unit_of_work() as uow:
        await repository.save_template(
            uow.session,
            tenant_id=principal.tenant_id,
            template=name.value,
            channel=chan.value,
            locale=loc,
            subject=body.subject,
            text=body.text,
            html=body.html,
        )
        await uow.commit()
    return TemplateView(
        template=name.value, channel=chan.value, locale=loc, source="tenant", **body.model_dump()
    )


@template_router.delete(
    "/{template}/{channel}/{locale}",
    status_code=204,
    summary="Go back to the default wording",
    responses=problem_responses(404),
)
async def delete_template(
    principal: WritePrincipal, db: DatabaseDep, template: str, channel: str, locale: str
) -> Response:
    name, chan, loc = _template_key(template, channel, locale)
    async with db.unit_of_work() as uow:
        await repository.delete_template(
            uow.session, tenant_id=principal.tenant_id, template=name.value, channel=chan.value, locale=loc
        )
        await uow.commit()
    return Response(status_code=204)


@template_router.post(
    "/preview",
    response_model=PreviewAnswer,
    summary="Render a template against a sample case",
    responses=problem_responses(404),
)
async def preview(principal: ReadPrincipal, db: DatabaseDep, body: PreviewRequest) -> PreviewAnswer:
    name, chan, loc = _template_key(body.template, body.channel.value, body.locale)
    async with db.unit_of_work() as uow:
        policy = await repository.policy_of(uow.session, principal.tenant_id)
        stored = await repository.template_override(
            uow.session, principal.tenant_id, name.value, chan.value, loc
        )
    if body.source is not None:
        source = TemplateSource(subject=body.source.subject, text=body.source.text, html=body.source.html)
    elif stored is not None:
        source = TemplateSource(subject=stored["subject"], text=stored["text"], html=stored["html"])
    else:
        source = default_template(name, chan, loc)
    warnings = validate(source, chan)
    if warnings and body.source is not None:
        raise Problem(422, "; ".join(warnings), kind="invalid-template")
    facts = sample_facts(loc)
    facts = type(facts)(**{**_fields(facts), "merchant_name": policy.sender.merchant_name})
    try:
        rendered = render(source, facts, locale=loc, channel=chan)
    except TemplateProblem as exc:
        raise Problem(422, str(exc), kind="invalid-template") from None
    segments = sms_segments(rendered.text) if chan is Channel.SMS else None
    if segments is not None and segments > 2:
        warnings.append(f"this SMS takes {segments} segments; carriers bill each one")
    return PreviewAnswer(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        sms_segments=segments,
        warnings=warnings,
    )


def _fields(facts: Any) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in facts.__dataclass_fields__}


# -- notifications and the in-app feed ------------------------------------------------------------


def _notification(row: Any) -> Notification:
    values = dict(row)
    values["address"] = mask_address(values.get("address"))
    return Notification.model_validate(values)


@notification_router.get(
    "/notifications",
    response_model=NotificationPage,
    summary="Messages, newest first",
    responses=problem_responses(400),
)
async def list_notifications(
    principal: ReadPrincipal,
    db: DatabaseDep,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    customer_id: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[
        str | None, Query(pattern=r"^(scheduled|held|sending|sent|failed|suppressed|canceled)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> NotificationPage:
    query = select(deliveries).where(deliveries.c.tenant_id == principal.tenant_id)
    if case_id is not None:
        query = query.where(deliveries.c.case_id == case_id)
    if customer_id is not None:
        query = query.where(deliveries.c.customer_id == customer_id)
    if status is not None:
        query = query.where(deliveries.c.status == status)
    rows = await _page(db, query, deliveries.c.created_at, cursor, limit)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if len(rows) > limit else None
    return NotificationPage(data=[_notification(r) for r in page], next_cursor=next_cursor)


async def _page(db: Database, query: Any, at_column: Any, cursor: str | None, limit: int) -> list[Any]:
    if cursor:
        at, key = decode_cursor(cursor)
        query = query.where((at_column < at) | ((at_column == at) & (deliveries.c.id < key)))
    query = query.order_by(at_column.desc(), deliveries.c.id.desc()).limit(limit + 1)
    async with db.unit_of_work() as uow:
        return list((await uow.session.execute(query)).mappings())


@notification_router.get(
    "/customers/{customer_id}/notices",
    response_model=NoticePage,
    summary="The customer's in-app notices",
    responses=problem_responses(400),
)
async def list_notices(
    principal: ReadPrincipal,
    db: DatabaseDep,
    customer_id: CustomerId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> NoticePage:
    query = select(deliveries).where(
        deliveries.c.tenant_id == principal.tenant_id,
        deliveries.c.customer_id == customer_id,
        deliveries.c.channel == Channel.IN_APP.value,
        deliveries.c.status == "sent",
    )
    rows = await _page(db, query, deliveries.c.sent_at, cursor, limit)
    page = rows[:limit]
    notices = [
        Notice(
            id=r["id"],
            case_id=r["case_id"],
            invoice_id=r["invoice_id"],
            template=r["template"],
            level_name=r["level_name"],
            locale=r["locale"],
            title=r["subject"],
            text=r["body_text"],
            sent_at=r["sent_at"],
        )
        for r in page
    ]
    next_cursor = encode_cursor(page[-1]["sent_at"], page[-1]["id"]) if len(rows) > limit else None
    return NoticePage(data=notices, next_cursor=next_cursor)


# -- contacts -------------------------------------------------------------------------------------


async def _contact_view(db: Database, tenant_id: str, customer_id: str) -> ContactView:
    async with db.unit_of_work() as uow:
        row = await repository.contact_row(uow.session, tenant_id, customer_id)
        policy = await repository.policy_of(uow.session, tenant_id)
        if row is None:
            raise Problem(404, "no customer with this id", kind="not-found")
        contact = resolve(customer_id, row, default_locale=policy.default_locale)
        addresses = [a for a in (contact.address_for("email"), contact.address_for("sms")) if a]
        opted = await repository.opt_outs_of(uow.session, tenant_id, addresses)
    try:
        override = ContactBody.model_validate(row["override"])
    except ValidationError:
        override = ContactBody()
    return ContactView(
        customer_id=customer_id,
        override=override,
        effective={
            "name": contact.name,
            "email": mask_address(contact.email),
            "phone": mask_address(contact.phone),
            "locale": contact.locale,
            "time_zones": list(contact.zones),
            "time_zone_source": contact.zone_source,
            "opted_out_channels": sorted(contact.opted_out_channels),
        },
        opt_outs=[
            OptOut(
                channel=o["channel"],
                address=mask_address(o["address"]) or "",
                source=o["source"],
                created_at=o["created_at"],
            )
            for o in opted
        ],
    )


@notification_router.get(
    "/customers/{customer_id}/contact",
    response_model=ContactView,
    summary="A customer's contact details",
    responses=problem_responses(404),
)
async def get_contact(principal: ReadPrincipal, db: DatabaseDep, customer_id: CustomerId) -> ContactView:
    return await _contact_view(db, principal.tenant_id, customer_id)


@notification_router.put(
    "/customers/{customer_id}/contact", response_model=ContactView, summary="Set what the platform knows"
)
async def put_contact(
    principal: WritePrincipal, db: DatabaseDep, customer_id: CustomerId, body: ContactBody
) -> ContactView:
    if body.time_zone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(body.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Problem(422, f"unknown time zone {body.time_zone!r}", kind="invalid-contact") from None
    async with db.unit_of_work() as uow:
        await repository.replace_override(
            uow.session,
            tenant_id=principal.tenant_id,
            customer_id=customer_id,
            override=body.model_dump(mode="json", exclude_defaults=True),
        )
        await uow.commit()
    return await _contact_view(db, principal.tenant_id, customer_id)


# -- endpoints (the platform's webhook, the collections agency) -----------------------------------


@notification_router.put(
    "/notification-endpoints/{kind}",
    response_model=EndpointView,
    summary="Point a webhook; returns its secret once",
)
async def put_endpoint(
    principal: AdminPrincipal,
    db: DatabaseDep,
    box: Annotated[SecretBox, Depends(secret_box)],
    kind: Annotated[str, Path(pattern=r"^(platform|agency)$")],
    body: EndpointBody,
) -> EndpointView:
    secret = new_webhook_secret()
    async with db.unit_of_work() as uow:
        await repository.save_endpoint(
            uow.session,
            tenant_id=principal.tenant_id,
            kind=kind,
            url=body.url,
            secret_sealed=box.seal(secret),
        )
        await uow.commit()
    return EndpointView(kind=kind, url=body.url, secret=secret)


@notification_router.get(
    "/notification-endpoints", response_model=list[EndpointView], summary="Where webhooks go (no secrets)"
)
async def list_endpoints(principal: ReadPrincipal, db: DatabaseDep) -> list[EndpointView]:
    views = []
    async with db.unit_of_work() as uow:
        for kind in _ENDPOINT_KINDS:
            found = await repository.endpoint(uow.session, principal.tenant_id, kind)
            if found is not None:
                views.append(EndpointView(kind=kind, url=found["url"], updated_at=found["updated_at"]))
    return views


# -- the embedded mailbox --------------------------------------------------------------------------


@notification_router.get(
    "/mail", response_model=list[MailItem], summary="Mail written to files (no SMTP configured)"
)
async def list_mail(
    principal: ReadPrincipal, settings: SettingsDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[MailItem]:
    found = list_eml(mail_folder(settings, principal.tenant_id))[:limit]
    return [
        MailItem(name=m.file, message_id=m.message_id, to=m.to, subject=m.subject, date=m.date) for m in found
    ]


@notification_router.get(
    "/mail/{name}", summary="One written message (message/rfc822)", responses=problem_responses(404)
)
async def get_mail(
    principal: ReadPrincipal, settings: SettingsDep, name: Annotated[str, Path(max_length=64)]
) -> Response:
    try:
        raw = read_eml(mail_folder(settings, principal.tenant_id), name)
    except (ValueError, FileNotFoundError):
        raise Problem(404, "no such message", kind="not-found") from None
    return Response(raw, media_type="message/rfc822")
