"""The retry service's ``/v1`` slice: dunning cases and their timelines (tenant API key)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from dunning.common.auth import ReadPrincipal, WritePrincipal, database
from dunning.common.clock import Clock, SystemClock
from dunning.common.db import Database
from dunning.common.events.topics import RECOVERY_EVENTS_TOPIC
from dunning.common.idempotency import Answer, respond_once
from dunning.common.openapi import problem_responses
from dunning.common.outbox import enqueue
from dunning.common.pagination import decode_cursor, encode_cursor
from dunning.common.problems import Problem
from dunning.common.tenancy.service import Principal
from dunning.retry import actions, attempt_store, repository
from dunning.retry.collections import casework
from dunning.retry.collections.domain import WRITE_OFF_REASONS
from dunning.retry.domain.lifecycle import Action, CaseStatus
from dunning.retry.policy_schema import TENANT_DEFAULT, RetryPolicyBody, from_domain, to_domain
from dunning.retry.schemas import Attempt, Case, CaseDetail, CasePage, TimelineEntry
from dunning.retry.tables import SCHEMA

router = APIRouter(prefix="/v1/cases", tags=["cases"])
policy_router = APIRouter(prefix="/v1/retry-policy", tags=["retry policy"])

DatabaseDep = Annotated[Database, Depends(database)]
_LISTED = [s.value for s in CaseStatus if s is not CaseStatus.NONE]


@router.get(
    "", response_model=CasePage, summary="List dunning cases, newest first", responses=problem_responses(400)
)
async def list_cases(
    principal: ReadPrincipal,
    db: DatabaseDep,
    status: Annotated[str | None, Query(description=f"One of {', '.join(_LISTED)}")] = None,
    customer_id: Annotated[str | None, Query(max_length=255)] = None,
    invoice_id: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> CasePage:
    if status is not None and status not in _LISTED:
        raise Problem(400, f"status must be one of {', '.join(_LISTED)}", kind="invalid-filter")
    after = decode_cursor(cursor) if cursor else None
    async with db.unit_of_work() as uow:
        rows = await repository.list_cases(
            uow.session,
            tenant_id=principal.tenant_id,
            status=status,
            customer_id=customer_id,
            invoice_id=invoice_id,
            after=after,
            limit=limit + 1,
        )
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].opened_at, page[-1].id) if len(rows) > limit else None
    return CasePage(data=[_case(r) for r in page], next_cursor=next_cursor)


@router.get(
    "/{case_id}",
    response_model=CaseDetail,
    summary="A case with its whole timeline",
    responses=problem_responses(404),
)
async def get_case(
    principal: ReadPrincipal,
    db: DatabaseDep,
    case_id: Annotated[str, Path(max_length=64)],
) -> CaseDetail:
    async with db.unit_of_work() as uow:
        row = await repository.get_case(uow.session, tenant_id=principal.tenant_id, case_id=case_id)
        if row is None:
            raise Problem(404, "no case with this id", kind="not-found")
        entries = await _timeline(uow.session, case_id)
        tried = [
            Attempt.model_validate(dict(r._mapping))
            for r in await attempt_store.attempts_of(uow.session, case_id)
        ]
    return CaseDetail(**_case(row).model_dump(), attempts=tried, timeline=entries)


async def _timeline(session: AsyncSession, case_id: str) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            at=r.at, kind=r.kind, type=r.type, note=r.note, cause_event_id=r.cause_event_id, data=r.data
        )
        for r in await repository.case_timeline(session, case_id=case_id)
    ]


def _case(row: Any) -> Case:
    return Case.model_validate(dict(row._mapping))


@policy_router.get(
    "", response_model=RetryPolicyBody, summary="The tenant's retry policy (defaults if never set)"
)
async def get_retry_policy(principal: ReadPrincipal, db: DatabaseDep) -> RetryPolicyBody:
    async with db.unit_of_work() as uow:
        stored = await repository.get_policy(uow.session, principal.tenant_id)
    return RetryPolicyBody.model_validate(stored) if stored else from_domain(TENANT_DEFAULT)


@policy_router.put("", response_model=RetryPolicyBody, summary="Replace the tenant's retry policy")
async def put_retry_policy(
    principal: WritePrincipal, db: DatabaseDep, body: RetryPolicyBody
) -> RetryPolicyBody:
    try:
        policy = to_domain(body)
    except ValueError as exc:
        raise Problem(422, str(exc), kind="invalid-policy") from None
    normalized = from_domain(policy)
    async with db.unit_of_work() as uow:
        await repository.put_policy(uow.session, principal.tenant_id, normalized.model_dump(mode="json"))
        await uow.commit()
    return normalized


class ActionAnswer(BaseModel):
    case_id: str
    status: str
    note: str


def request_clock(request: Request) -> Clock:
    clock: Clock | None = getattr(request.app.state, "clock", None)
    return clock or SystemClock()


ClockDep = Annotated[Clock, Depends(request_clock)]


class WriteOffBody(BaseModel):
    """Why the debt is given up, for accounting (``GET /v1/exports/adjustments.csv``)."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal[WRITE_OFF_REASONS] = "other"  # type: ignore[valid-type]
    note: Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")] | None = None


async def _act(
    request: Request,
    db: Database,
    clock: Clock,
    principal: Principal,
    case_id: str,
    action: Action | None,
    write_off: WriteOffBody | None = None,
) -> JSONResponse:
    now = clock.now()
    actor = f"api key {principal.key_id}"

    async def run(session: AsyncSession) -> Answer:
        try:
            if action is None:
                result = await actions.retry_now(
                    session, tenant_id=principal.tenant_id, case_id=case_id, now=now, actor=actor
                )
            else:
                result = await actions.act(
                    session,
                    tenant_id=principal.tenant_id,
                    case_id=case_id,
                    action=action,
                    now=now,
                    actor=actor,
                )
        except actions.CaseNotFound:
            raise Problem(404, "no case with this id", kind="not-found") from None
        except actions.ActionRefused as exc:
            raise Problem(409, str(exc), kind="action-refused") from None
        if write_off is not None:
            await casework.write_off_reason(
                session, case_id, reason=write_off.reason, note=write_off.note, actor=actor, now=now
            )
        for event in result.events:
            await enqueue(session, SCHEMA, RECOVERY_EVENTS_TOPIC, event)
        body = ActionAnswer(case_id=result.case_id, status=result.status, note=result.note)
        return Answer(200, body.model_dump())

    # A repeated request with the same key (a lost response, a double click) replays the first
    # answer and does nothing again: "retry now" never adds a second charge.
    return await respond_once(request, db, schema=SCHEMA, tenant_id=principal.tenant_id, run=run)


CaseId = Annotated[str, Path(max_length=64)]
_ACTION_ERRORS = problem_responses(400, 404, 409)  # 400: a malformed Idempotency-Key


@router.post(
    "/{case_id}/pause",
    response_model=ActionAnswer,
    summary="Pause retries and messages",
    responses=_ACTION_ERRORS,
)
async def pause_case(
    request: Request, principal: WritePrincipal, db: DatabaseDep, clock: ClockDep, case_id: CaseId
) -> JSONResponse:
    return await _act(request, db, clock, principal, case_id, Action.PAUSE)


@router.post(
    "/{case_id}/resume", response_model=ActionAnswer, summary="Lift a manual pause", responses=_ACTION_ERRORS
)
async def resume_case(
    request: Request, principal: WritePrincipal, db: DatabaseDep, clock: ClockDep, case_id: CaseId
) -> JSONResponse:
    return await _act(request, db, clock, principal, case_id, Action.RESUME)


@router.post(
    "/{case_id}/write-off",
    response_model=ActionAnswer,
    summary="Give up on the case",
    responses=_ACTION_ERRORS,
)
async def write_off_case(
    request: Request,
    principal: WritePrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    case_id: CaseId,
    body: WriteOffBody | None = None,
) -> JSONResponse:
    return await _act(request, db, clock, principal, case_id, Action.WRITE_OFF, body or WriteOffBody())


@router.post(
    "/{case_id}/retry",
    response_model=ActionAnswer,
    summary="Charge again now (within card caps)",
    responses=_ACTION_ERRORS,
)
async def retry_case(
    request: Request, principal: WritePrincipal, db: DatabaseDep, clock: ClockDep, case_id: CaseId
) -> JSONResponse:
    return await _act(request, db, clock, principal, case_id, None)
