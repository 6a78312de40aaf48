"""Cross-tenant administration (create and list tenants, issue a key for any tenant), for the
operator of the installation: ``Authorization: Bearer <DUNNING_ADMIN_TOKEN>``, never a tenant key.

Without ``DUNNING_ADMIN_TOKEN`` these routes answer 403: the CLI (``dunning tenants ...``) is
then the only way to create tenants. See ADR 0008.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request
from starlette.responses import JSONResponse

from dunning.common.crypto import hash_token, tokens_equal
from dunning.common.idempotency import Answer
from dunning.common.openapi import problem_responses
from dunning.common.problems import Problem
from dunning.common.tenancy import keys, service
from dunning.common.tenancy.api import BoxDep, DatabaseDep, ObjectId, reply, run_once
from dunning.common.tenancy.schemas import CreatedApiKey, NewApiKey, NewTenant, TenantList, TenantView
from dunning.common.tenancy.schemas import CreatedTenant as CreatedTenantView

# Idempotency keys of operator actions live beside the tenants' under this pseudo tenant id.
OPERATOR_NAMESPACE = "_operator"
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dunning-operator"'}

operator_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OperatorToken",
    description="The installation's DUNNING_ADMIN_TOKEN (cross-tenant routes only)",
)


async def require_operator(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(operator_bearer)],
) -> None:
    expected: str | None = getattr(request.app.state, "operator_token_hash", None)
    if expected is None:
        raise Problem(
            403, "the operator API is off: set DUNNING_ADMIN_TOKEN to use it", kind="operator-api-off"
        )
    token = credentials.credentials.strip() if credentials else ""
    # Hashes compared in constant time: equal lengths, so the token's length does not leak either.
    if token and tokens_equal(hash_token(token), expected):
        return
    if token.startswith(service.API_KEY_PREFIX):
        raise Problem(
            403,
            "a tenant API key cannot administer tenants: use the operator token (DUNNING_ADMIN_TOKEN)",
            kind="operator-only",
        )
    raise Problem(
        401,
        "send the operator token as 'Authorization: Bearer <token>'",
        kind="unauthenticated",
        headers=_CHALLENGE,
    )


Operator = Depends(require_operator)
operator_router = APIRouter(prefix="/v1/tenants", tags=["operator"], dependencies=[Operator])


@operator_router.get("", response_model=TenantList, summary="Every tenant, oldest first (operator token)")
async def list_tenants(db: DatabaseDep) -> TenantList:
    async with db.unit_of_work() as uow:
        rows = await service.list_tenants(uow.session)
    return TenantList(
        data=[
            TenantView(
                tenant_id=r.tenant_id,
                name=r.name,
                created_at=r.created_at,
                active_webhook_secrets=r.active_webhook_secrets,
            )
            for r in rows
        ]
    )


@operator_router.post(
    "",
    response_model=CreatedTenantView,
    status_code=201,
    summary="Create a tenant with an admin API key and a webhook secret, shown once (operator token)",
    responses=problem_responses(400),
)
async def create_tenant(request: Request, db: DatabaseDep, box: BoxDep, body: NewTenant) -> JSONResponse:
    made: list[service.CreatedTenant] = []

    async def run() -> Answer:
        created = await service.create_tenant(
            uow.session, box, body.name, stripe_webhook_secret=body.stripe_webhook_secret
        )
        made.append(created)
        answer = {"tenant_id": created.tenant_id, "name": created.name}
        return Answer(201, answer | {"api_key": None, "stripe_webhook_secret": None})

    async with db.unit_of_work() as uow:
        answer = await run_once(request, uow, OPERATOR_NAMESPACE, run)
        await uow.commit()
    shown = (
        {"api_key": made[0].api_key, "stripe_webhook_secret": made[0].stripe_webhook_secret} if made else {}
    )
    return reply(answer, shown_once=shown)


@operator_router.post(
    "/{tenant_id}/api-keys",
    response_model=CreatedApiKey,
    status_code=201,
    summary="Issue an API key for a tenant, e.g. one whose admin key is lost (operator token)",
    responses=problem_responses(400, 404),
)
async def issue_tenant_key(
    request: Request, db: DatabaseDep, tenant_id: ObjectId, body: NewApiKey
) -> JSONResponse:
    issued: list[service.IssuedApiKey] = []

    async def run() -> Answer:
        if await service.get_tenant(uow.session, tenant_id) is None:
            raise Problem(404, "no tenant with this id", kind="not-found")
        made = await service.issue_api_key(
            uow.session, tenant_id, scopes=tuple(body.scopes), label=body.label
        )
        issued.append(made)
        info = await keys.get_api_key(uow.session, tenant_id, made.key_id)
        assert info is not None
        view = CreatedApiKey(
            id=info.key_id,
            prefix=info.prefix,
            label=info.label,
            scopes=list(info.scopes),
            created_at=info.created_at,
            revoked_at=None,
            key=None,
        )
        return Answer(201, view.model_dump(mode="json"))

    async with db.unit_of_work() as uow:
        answer = await run_once(request, uow, OPERATOR_NAMESPACE, run)
        await uow.commit()
    return reply(answer, shown_once={"key": issued[0].token} if issued else {})
