"""The tenancy slice of ``/v1``, for a tenant's **admin** key: the tenant, its API keys, its
processor key and its webhook secrets. Secrets are shown once, in the answer that creates them.

Served by ``dunning run`` and by ``dunning serve retry`` / ``serve notify`` (the roles that
serve tenant-key routes); ``install`` wires its state (secret box, rate limiter, operator token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dunning.common.auth import AdminPrincipal, database
from dunning.common.crypto import SecretBox, hash_token
from dunning.common.db import Database, UnitOfWork
from dunning.common.idempotency import Answer, once, request_fingerprint
from dunning.common.openapi import problem_responses
from dunning.common.pagination import decode_cursor, encode_cursor
from dunning.common.problems import Problem
from dunning.common.ratelimit import KeyRateLimiter
from dunning.common.settings import CommonSettings
from dunning.common.tenancy import SCHEMA, keys, service
from dunning.common.tenancy.schemas import (
    ApiKeyPage,
    ApiKeyView,
    CreatedApiKey,
    CreatedWebhookSecret,
    NewApiKey,
    NewWebhookSecret,
    ProcessorKeyBody,
    ProcessorKeyView,
    TenantView,
    WebhookSecretPage,
    WebhookSecretView,
)

router = APIRouter(prefix="/v1", tags=["tenant administration"])

DatabaseDep = Annotated[Database, Depends(database)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=512)]
ObjectId = Annotated[str, Path(min_length=1, max_length=64)]
Provider = Annotated[str, Path(max_length=32, description="The processor: `stripe`")]


def routers() -> list[APIRouter]:
    # The operator's routes build on this module's dependencies, hence the late import.
    from dunning.common.tenancy.operator_api import operator_router

    return [router, operator_router]


def install(app: FastAPI, settings: CommonSettings, box: SecretBox) -> None:
    """Wire the conventions' state onto an app serving tenant-key routes."""
    app.state.secret_box = box
    app.state.rate_limiter = KeyRateLimiter(settings.api_rate_per_second, settings.api_rate_burst)
    token = settings.admin_token.get_secret_value().strip() if settings.admin_token else None
    app.state.operator_token_hash = hash_token(token) if token else None


def secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


BoxDep = Annotated[SecretBox, Depends(secret_box)]


async def run_once(
    request: Request, uow: UnitOfWork, namespace: str, run: Callable[[], Awaitable[Answer]]
) -> Answer:
    """An action under the request's ``Idempotency-Key`` (replayed, not repeated, when reused)."""
    return await once(
        uow.session,
        schema=SCHEMA,
        tenant_id=namespace,
        key=request.headers.get("idempotency-key"),
        fingerprint=request_fingerprint(request.method, request.url.path, await request.body()),
        run=run,
    )


def reply(answer: Answer, *, shown_once: dict[str, Any]) -> JSONResponse:
    """The first answer carries the secrets; a replay does not (they are stored nowhere in clear)."""
    if answer.replayed:
        return JSONResponse(
            answer.body, status_code=answer.status_code, headers={"Idempotent-Replayed": "true"}
        )
    return JSONResponse({**answer.body, **shown_once}, status_code=answer.status_code)


# -- the tenant ------------------------------------------------------------------------------------


@router.get("/tenant", response_model=TenantView, summary="The tenant this API key belongs to")
async def get_tenant(principal: AdminPrincipal, db: DatabaseDep) -> TenantView:
    async with db.unit_of_work() as uow:
        found = await service.get_tenant(uow.session, principal.tenant_id)
    assert found is not None  # the key authenticated, so its tenant exists
    return TenantView(
        tenant_id=found.tenant_id,
        name=found.name,
        created_at=found.created_at,
        active_webhook_secrets=found.active_webhook_secrets,
    )


# -- API keys --------------------------------------------------------------------------------------


def _key_view(info: keys.ApiKeyInfo) -> dict[str, Any]:
    return ApiKeyView(
        id=info.key_id,
        prefix=info.prefix,
        label=info.label,
        scopes=list(info.scopes),
        created_at=info.created_at,
        revoked_at=info.revoked_at,
    ).model_dump(mode="json")


@router.post(
    "/api-keys",
    response_model=CreatedApiKey,
    status_code=201,
    summary="Create an API key; the key is shown only in this answer",
    responses=problem_responses(400),
)
async def create_api_key(
    request: Request, principal: AdminPrincipal, db: DatabaseDep, body: NewApiKey
) -> JSONResponse:
    issued: list[service.IssuedApiKey] = []

    async def run() -> Answer:
        made = await service.issue_api_key(
            uow.session, principal.tenant_id, scopes=tuple(body.scopes), label=body.label
        )
        issued.append(made)
        info = await keys.get_api_key(uow.session, principal.tenant_id, made.key_id)
        assert info is not None
        return Answer(201, _key_view(info) | {"key": None})

    async with db.unit_of_work() as uow:
        answer = await run_once(request, uow, principal.tenant_id, run)
        await uow.commit()
    return reply(answer, shown_once={"key": issued[0].token} if issued else {})


@router.get(
    "/api-keys",
    response_model=ApiKeyPage,
    summary="The tenant's API keys, newest first (no secrets)",
    responses=problem_responses(400),  # a cursor this API did not return
)
async def list_api_keys(
    principal: AdminPrincipal, db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None
) -> ApiKeyPage:
    async with db.unit_of_work() as uow:
        rows = await keys.list_api_keys(
            uow.session, principal.tenant_id, after=decode_cursor(cursor) if cursor else None, limit=limit + 1
        )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].key_id) if len(rows) > limit else None
    return ApiKeyPage(data=[ApiKeyView.model_validate(_key_view(r)) for r in page], next_cursor=next_cursor)


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    summary="Revoke an API key at once",
    responses=problem_responses(404, 409),
)
async def revoke_api_key(principal: AdminPrincipal, db: DatabaseDep, key_id: ObjectId) -> Response:
    async with db.unit_of_work() as uow:
        try:
            await keys.revoke_api_key(uow.session, principal.tenant_id, key_id)
        except keys.ApiKeyNotFound:
            raise Problem(404, "no API key with this id", kind="not-found") from None
        except keys.LastAdminKey:
            raise Problem(
                409,
                "this is the tenant's last active admin key: create another admin key before revoking it",
                kind="last-admin-key",
            ) from None
        await uow.commit()
    return Response(status_code=204)


# -- processor credentials -------------------------------------------------------------------------


def _known_provider(provider: str) -> str:
    if provider != "stripe":
        raise Problem(404, f"no processor named {provider!r} (known: stripe)", kind="not-found")
    return provider


@router.put(
    "/processor-credentials/{provider}",
    response_model=ProcessorKeyView,
    summary="Set or replace the key the retry service charges with (stored sealed)",
    responses=problem_responses(404),
)
async def put_processor_key(
    principal: AdminPrincipal, db: DatabaseDep, box: BoxDep, provider: Provider, body: ProcessorKeyBody
) -> ProcessorKeyView:
    _known_provider(provider)
    async with db.unit_of_work() as uow:
        try:
            await service.set_processor_key(uow.session, box, principal.tenant_id, provider, body.api_key)
        except ValueError as exc:
            raise Problem(422, str(exc), kind="invalid-processor-key") from None
        info = await service.processor_key_info(uow.session, principal.tenant_id, provider)
        await uow.commit()
    assert info is not None
    return ProcessorKeyView(
        provider=provider, key_hint=info.key_hint, livemode=info.livemode, updated_at=info.updated_at
    )


@router.get(
    "/processor-credentials/{provider}",
    response_model=ProcessorKeyView,
    summary="Which processor key is set: a hint, never the key",
    responses=problem_responses(404),
)
async def get_processor_key(
    principal: AdminPrincipal, db: DatabaseDep, provider: Provider
) -> ProcessorKeyView:
    _known_provider(provider)
    async with db.unit_of_work() as uow:
        info = await service.processor_key_info(uow.session, principal.tenant_id, provider)
    if info is None:
        raise Problem(404, f"no {provider} key is set for this tenant", kind="not-found")
    return ProcessorKeyView(
        provider=provider, key_hint=info.key_hint, livemode=info.livemode, updated_at=info.updated_at
    )


# -- webhook secrets -------------------------------------------------------------------------------


def _secret_view(info: service.WebhookSecretInfo) -> dict[str, Any]:
    return WebhookSecretView(
        id=info.secret_id, provider=info.provider, created_at=info.created_at, retired_at=info.retired_at
    ).model_dump(mode="json")


@router.post(
    "/webhook-secrets",
    response_model=CreatedWebhookSecret,
    status_code=201,
    summary="Add an active webhook signing secret (rotation); shown only in this answer",
    responses=problem_responses(400),
)
async def add_webhook_secret(
    request: Request, principal: AdminPrincipal, db: DatabaseDep, box: BoxDep, body: NewWebhookSecret
) -> JSONResponse:
    added: list[str] = []

    async def run() -> Answer:
        secret_id, value = await service.add_webhook_secret(
            uow.session, box, principal.tenant_id, body.provider, body.secret
        )
        added.append(value)
        info = await service.webhook_secret_info(uow.session, principal.tenant_id, secret_id)
        assert info is not None
        return Answer(201, _secret_view(info) | {"secret": None})

    async with db.unit_of_work() as uow:
        answer = await run_once(request, uow, principal.tenant_id, run)
        await uow.commit()
    return reply(answer, shown_once={"secret": added[0]} if added else {})


@router.get(
    "/webhook-secrets",
    response_model=WebhookSecretPage,
    summary="The tenant's webhook secrets, newest first (ids and dates, never the secrets)",
    responses=problem_responses(400),  # a cursor this API did not return
)
async def list_webhook_secrets(
    principal: AdminPrincipal, db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None
) -> WebhookSecretPage:
    async with db.unit_of_work() as uow:
        rows = await service.webhook_secret_page(
            uow.session, principal.tenant_id, after=decode_cursor(cursor) if cursor else None, limit=limit + 1
        )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].secret_id) if len(rows) > limit else None
    return WebhookSecretPage(
        data=[WebhookSecretView.model_validate(_secret_view(r)) for r in page], next_cursor=next_cursor
    )


@router.post(
    "/webhook-secrets/{secret_id}/retire",
    response_model=WebhookSecretView,
    summary="Stop accepting webhooks signed with this secret",
    responses=problem_responses(400, 404),
)
async def retire_webhook_secret(
    request: Request, principal: AdminPrincipal, db: DatabaseDep, secret_id: ObjectId
) -> JSONResponse:
    async def run() -> Answer:
        # Retiring a retired secret changes nothing and answers as the first time did.
        await service.retire_webhook_secret(uow.session, principal.tenant_id, secret_id)
        info = await service.webhook_secret_info(uow.session, principal.tenant_id, secret_id)
        if info is None:
            raise Problem(404, "no webhook secret with this id", kind="not-found")
        return Answer(200, _secret_view(info))

    async with db.unit_of_work() as uow:
        answer = await run_once(request, uow, principal.tenant_id, run)
        await uow.commit()
    return reply(answer, shown_once={})
