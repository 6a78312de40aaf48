"""The B2B routes (ADR 0010): a business customer's payment terms and extra contacts, and the
PDF of a demand letter that went out. Tenant-scoped like every notify route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy import RowMapping
from starlette.responses import Response

from dunning.common.auth import ReadPrincipal, WritePrincipal, database
from dunning.common.db import Database
from dunning.common.openapi import problem_responses
from dunning.common.problems import Problem
from dunning.notify import b2b_customers, delivery_store
from dunning.notify.b2b_customers import B2BSettings, B2BView

b2b_router = APIRouter(prefix="/v1", tags=["b2b"])

DatabaseDep = Annotated[Database, Depends(database)]
CustomerId = Annotated[str, Path(min_length=1, max_length=255)]
DeliveryId = Annotated[str, Path(min_length=1, max_length=64)]


def _view(row: RowMapping) -> B2BView:
    return B2BView.model_validate({k: v for k, v in row.items() if k != "tenant_id"})


@b2b_router.get(
    "/customers/{customer_id}/b2b",
    response_model=B2BView,
    summary="A business customer's payment terms and extra contacts",
    responses=problem_responses(404),
)
async def get_b2b(principal: ReadPrincipal, db: DatabaseDep, customer_id: CustomerId) -> B2BView:
    async with db.unit_of_work() as uow:
        row = await b2b_customers.settings_of(uow.session, principal.tenant_id, customer_id)
    if row is None:
        raise Problem(404, "no B2B settings for this customer", kind="not-found")
    return _view(row)


@b2b_router.put(
    "/customers/{customer_id}/b2b",
    response_model=B2BView,
    summary="Set a business customer's payment terms and extra contacts (replaces them)",
    responses=problem_responses(422),
)
async def put_b2b(
    principal: WritePrincipal, db: DatabaseDep, customer_id: CustomerId, body: B2BSettings
) -> B2BView:
    async with db.unit_of_work() as uow:
        row = await b2b_customers.save_settings(uow.session, principal.tenant_id, customer_id, body)
        await uow.commit()
    return _view(row)


@b2b_router.get(
    "/notifications/{delivery_id}/letter.pdf",
    summary="The demand letter (PDF) a B2B message carried",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **problem_responses(404)},
)
async def get_letter(principal: ReadPrincipal, db: DatabaseDep, delivery_id: DeliveryId) -> Response:
    async with db.unit_of_work() as uow:
        pdf = await delivery_store.letter_pdf(uow.session, principal.tenant_id, delivery_id)
    if pdf is None:
        raise Problem(404, "no demand letter for this notification", kind="not-found")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="letter-{delivery_id}.pdf"'},
    )
