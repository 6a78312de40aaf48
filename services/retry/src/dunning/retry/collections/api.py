"""``/v1`` routes of collections: the policy, promises, plans, disputes, settlements, notes, tasks
and the adjustments export. Every POST takes ``Idempotency-Key``; refusals are problem+json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from dunning.common.auth import AdminPrincipal, ReadPrincipal, WritePrincipal
from dunning.common.db import Database
from dunning.common.idempotency import Answer, respond_once
from dunning.common.openapi import problem_responses
from dunning.common.pagination import decode_cursor, encode_cursor
from dunning.common.problems import Problem
from dunning.common.tenancy.service import Principal
from dunning.retry.api import ClockDep, DatabaseDep
from dunning.retry.collections import adjustments, casework, service, tasks
from dunning.retry.collections.domain import DISPUTE_REASONS, CollectionsRefused
from dunning.retry.collections.policy import (
    CollectionsPolicyBody,
    from_domain,
    put_policy,
    tenant_policy,
    to_domain,
)
from dunning.retry.csv_export import CSV_MEDIA_TYPE
from dunning.retry.tables import SCHEMA

router = APIRouter(prefix="/v1/cases", tags=["collections"])
policy_router = APIRouter(prefix="/v1/collections-policy", tags=["collections"])
tasks_router = APIRouter(prefix="/v1/tasks", tags=["collections"])
export_router = APIRouter(prefix="/v1/exports", tags=["collections"])

CaseId = Annotated[str, Path(max_length=64)]
ObjectId = Annotated[str, Path(max_length=64)]
_ERRORS = problem_responses(400, 404, 409, 422)
_NOT_FOUND = {"case_not_found", "dispute_not_found", "settlement_not_found"}
_UNPROCESSABLE = {"invalid_reason", "invalid_details", "invalid_source", "invalid_amount"}
Text = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]


def routers() -> list[APIRouter]:
    return [router, policy_router, tasks_router, export_router]


class Done(BaseModel):
    case_id: str
    status: str = Field(description="The case's status after the action.")
    id: str | None = Field(default=None, description="The object created or decided, if any.")


async def _once(
    request: Request, db: Database, principal: Principal, act: Callable[[AsyncSession], Awaitable[Done]]
) -> JSONResponse:
    async def run(session: AsyncSession) -> Answer:
        try:
            done = await act(session)
        except CollectionsRefused as exc:
            status = 404 if exc.code in _NOT_FOUND else 422 if exc.code in _UNPROCESSABLE else 409
            raise Problem(status, exc.message, kind=exc.code.replace("_", "-")) from None
        return Answer(200, done.model_dump(mode="json"))

    return await respond_once(request, db, schema=SCHEMA, tenant_id=principal.tenant_id, run=run)


async def _status(session: AsyncSession, case_id: str) -> str:
    from dunning.retry import repository

    return str((await repository.case_row(session, case_id))["status"])


def _actor(principal: Principal) -> str:
    return f"api key {principal.key_id}"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromiseBody(_Body):
    pay_by: date = Field(description="The customer's local date; at most the policy's horizon ahead.")


class PlanBody(_Body):
    instalments: int = Field(ge=2, le=60)


class DisputeBody(_Body):
    reason: Literal[DISPUTE_REASONS]  # type: ignore[valid-type]
    details: Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")] | None = None


class ResolveBody(_Body):
    outcome: Literal["upheld", "rejected"]
    note: Text


class SettlementBody(_Body):
    amount: int = Field(gt=0, le=10**12, description="Minor units, less than the amount owed.")
    reason: Text


class DecisionBody(_Body):
    note: Text | None = None


class NoteBody(_Body):
    kind: Literal["note", "call", "agreement"] = "note"
    body: Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"^[^\x00]*$")]


class Note(BaseModel):
    id: str
    case_id: str
    kind: str
    body: str
    author: str
    created_at: datetime


class NoteList(BaseModel):
    data: list[Note]


class Task(BaseModel):
    kind: str = Field(description=" | ".join(tasks.TASK_KINDS))
    object_id: str
    case_id: str
    due_at: datetime
    note: str


class TaskPage(BaseModel):
    data: list[Task]
    next_cursor: str | None


@router.post("/{case_id}/promises", response_model=Done, summary="Record a promise to pay", responses=_ERRORS)
async def promise(
    request: Request,
    principal: WritePrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    body: PromiseBody,
) -> JSONResponse:
    async def act(session: AsyncSession) -> Done:
        await service.promise_to_pay(
            session, tenant_id=principal.tenant_id, case_id=case_id, pay_by=body.pay_by,
            source="operator", actor=_actor(principal), now=clock.now(),
        )  # fmt: skip
        return Done(case_id=case_id, status=await _status(session, case_id))

    return await _once(request, db, principal, act)


@router.post(
    "/{case_id}/payment-plans", response_model=Done, summary="Start a payment plan", responses=_ERRORS
)
async def payment_plan(
    request: Request,
    principal: WritePrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    body: PlanBody,
) -> JSONResponse:
    async def act(session: AsyncSession) -> Done:
        await service.request_payment_plan(
            session, tenant_id=principal.tenant_id, case_id=case_id, instalments=body.instalments,
            source="operator", actor=_actor(principal), now=clock.now(),
        )  # fmt: skip
        return Done(case_id=case_id, status=await _status(session, case_id))

    return await _once(request, db, principal, act)


@router.post(
    "/{case_id}/disputes", response_model=Done, summary="Record a customer's dispute", responses=_ERRORS
)
async def dispute(
    request: Request,
    principal: WritePrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    body: DisputeBody,
) -> JSONResponse:
    async def act(session: AsyncSession) -> Done:
        await service.open_dispute(
            session, tenant_id=principal.tenant_id, case_id=case_id, reason=body.reason, details=body.details,
            source="operator", actor=_actor(principal), now=clock.now(),
        )  # fmt: skip
        return Done(case_id=case_id, status=await _status(session, case_id))

    return await _once(request, db, principal, act)


@router.post(
    "/{case_id}/disputes/{dispute_id}/resolve",
    response_model=Done,
    summary="Answer a customer's dispute (upheld: written off; rejected: dunning resumes)",
    responses=_ERRORS,
)
async def resolve(
    request: Request,
    principal: WritePrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    dispute_id: ObjectId,
    body: ResolveBody,
) -> JSONResponse:
    async def act(session: AsyncSession) -> Done:
        status = await casework.resolve_dispute(
            session, tenant_id=principal.tenant_id, case_id=case_id, dispute_id=dispute_id,
            outcome=body.outcome, note=body.note, actor=_actor(principal), now=clock.now(),
        )  # fmt: skip
        return Done(case_id=case_id, status=status, id=dispute_id)

    return await _once(request, db, principal, act)


@router.post(
    "/{case_id}/settlements",
    response_model=Done,
    summary="Propose a settlement (needs approval)",
    responses=_ERRORS,
)
async def propose(
    request: Request,
    principal: WritePrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    body: SettlementBody,
) -> JSONResponse:
    async def act(session: AsyncSession) -> Done:
        row = await casework.propose_settlement(
            session, tenant_id=principal.tenant_id, case_id=case_id, amount=body.amount, reason=body.reason,
            key_id=principal.key_id, now=clock.now(),
        )  # fmt: skip
        return Done(case_id=case_id, status=await _status(session, case_id), id=row["id"])

    return await _once(request, db, principal, act)


async def _decide(
    request: Request,
    principal: Principal,
    db: Database,
    now: datetime,
    case_id: str,
    sid: str,
    approve: bool,
    body: DecisionBody | None,
) -> JSONResponse:
    async def act(session: AsyncSession) -> Done:
        await casework.decide_settlement(
            session, tenant_id=principal.tenant_id, case_id=case_id, settlement_id=sid, approve=approve,
            note=body.note if body else None, key_id=principal.key_id, now=now,
        )  # fmt: skip
        return Done(case_id=case_id, status=await _status(session, case_id), id=sid)

    return await _once(request, db, principal, act)


@router.post(
    "/{case_id}/settlements/{settlement_id}/approve",
    response_model=Done,
    summary="Approve a settlement (admin scope, another key than the proposer's)",
    responses=_ERRORS,
)
async def approve(
    request: Request,
    principal: AdminPrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    settlement_id: ObjectId,
    body: DecisionBody | None = None,
) -> JSONResponse:
    return await _decide(request, principal, db, clock.now(), case_id, settlement_id, True, body)


@router.post(
    "/{case_id}/settlements/{settlement_id}/reject",
    response_model=Done,
    summary="Reject a settlement (admin scope)",
    responses=_ERRORS,
)
async def reject(
    request: Request,
    principal: AdminPrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    settlement_id: ObjectId,
    body: DecisionBody | None = None,
) -> JSONResponse:
    return await _decide(request, principal, db, clock.now(), case_id, settlement_id, False, body)


@router.post(
    "/{case_id}/notes", response_model=Done, summary="Add a note, call log or agreement", responses=_ERRORS
)
async def add_note(
    request: Request,
    principal: WritePrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    body: NoteBody,
) -> JSONResponse:
    async def act(session: AsyncSession) -> Done:
        row = await casework.add_note(
            session, tenant_id=principal.tenant_id, case_id=case_id, kind=body.kind, body=body.body,
            author=_actor(principal), now=clock.now(),
        )  # fmt: skip
        return Done(case_id=case_id, status=await _status(session, case_id), id=row["id"])

    return await _once(request, db, principal, act)


@router.get(
    "/{case_id}/notes", response_model=NoteList, summary="A case's notes, oldest first", responses=_ERRORS
)
async def list_notes(principal: ReadPrincipal, db: DatabaseDep, case_id: CaseId) -> NoteList:
    async with db.unit_of_work() as uow:
        try:
            rows = await casework.notes_of(uow.session, tenant_id=principal.tenant_id, case_id=case_id)
        except CollectionsRefused as exc:
            raise Problem(404, exc.message, kind="not-found") from None
    return NoteList(data=[Note.model_validate(dict(r)) for r in rows])


@policy_router.get("", response_model=CollectionsPolicyBody, summary="The tenant's collections policy")
async def get_policy(principal: ReadPrincipal, db: DatabaseDep) -> CollectionsPolicyBody:
    async with db.unit_of_work() as uow:
        return from_domain(await tenant_policy(uow.session, principal.tenant_id))


@policy_router.put(
    "",
    response_model=CollectionsPolicyBody,
    summary="Replace the collections policy",
    responses=problem_responses(422),
)
async def replace_policy(
    principal: WritePrincipal, db: DatabaseDep, body: CollectionsPolicyBody
) -> CollectionsPolicyBody:
    try:
        policy = to_domain(body)
    except ValueError as exc:
        raise Problem(422, str(exc), kind="invalid-policy") from None
    async with db.unit_of_work() as uow:
        await put_policy(uow.session, principal.tenant_id, policy)
        await uow.commit()
    return from_domain(policy)


@tasks_router.get(
    "", response_model=TaskPage, summary="Tasks due, oldest due first", responses=problem_responses(400)
)
async def list_tasks(
    principal: ReadPrincipal,
    db: DatabaseDep,
    kind: Annotated[str | None, Query(description=" | ".join(tasks.TASK_KINDS))] = None,
    due_before: Annotated[AwareDatetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> TaskPage:
    if kind is not None and kind not in tasks.TASK_KINDS:
        raise Problem(400, f"kind must be one of {', '.join(tasks.TASK_KINDS)}", kind="invalid-filter")
    after = decode_cursor(cursor) if cursor else None
    async with db.unit_of_work() as uow:
        rows = await tasks.list_tasks(
            uow.session,
            tenant_id=principal.tenant_id,
            kind=kind,
            due_before=due_before,
            after=after,
            limit=limit + 1,
        )
    page: list[Any] = rows[:limit]
    next_cursor = encode_cursor(page[-1].due_at, page[-1].object_id) if len(rows) > limit else None
    return TaskPage(data=[Task.model_validate(dict(r._mapping)) for r in page], next_cursor=next_cursor)


@export_router.get(
    "/adjustments.csv",
    summary="Settlements and write-offs for accounting (CSV, streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV"}},
)
async def adjustments_csv(principal: ReadPrincipal, db: DatabaseDep) -> StreamingResponse:
    async def body() -> Any:
        async with db.unit_of_work() as uow:
            async for chunk in adjustments.csv_lines(uow.session, principal.tenant_id):
                yield chunk

    return StreamingResponse(
        body(),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="adjustments.csv"'},
    )
