"""``/v1/analytics/recovery`` (JSON and CSV) and ``/v1/cases.csv``: read-only, tenant-scoped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from dunning.common.auth import ReadPrincipal
from dunning.common.openapi import problem_responses
from dunning.common.problems import Problem
from dunning.retry import analytics, csv_export
from dunning.retry.api import ClockDep, DatabaseDep
from dunning.retry.domain.lifecycle import CaseStatus

analytics_router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
export_router = APIRouter(tags=["cases"])
_LISTED = [s.value for s in CaseStatus if s is not CaseStatus.NONE]

_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "RFC 4180 CSV with a header row",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **problem_responses(400),
}
_DATE = "ISO 8601 date (midnight UTC) or date-time (UTC unless it names an offset)"
From = Annotated[
    str | None,
    Query(
        alias="from", max_length=40, description=f"Opened at or after: {_DATE}; default 30 days before `to`"
    ),
]
To = Annotated[
    str | None, Query(alias="to", max_length=40, description=f"Opened before: {_DATE}; default now")
]
OpenedFrom = Annotated[
    str | None, Query(alias="from", max_length=40, description=f"Opened at or after: {_DATE}")
]
OpenedTo = Annotated[str | None, Query(alias="to", max_length=40, description=f"Opened before: {_DATE}")]
GroupBy = Annotated[str, Query(max_length=40, description=f"One of {', '.join(analytics.GROUP_BY)}")]


async def _report(
    principal: ReadPrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    raw_from: str | None,
    raw_to: str | None,
    group_by: str,
) -> analytics.RecoveryReport:
    start, end = analytics.window(raw_from, raw_to, now=clock.now(), max_span=analytics.MAX_SPAN)
    analytics.check_group_by(group_by)
    async with db.unit_of_work() as uow:
        return await analytics.recovery_report(
            uow.session, tenant_id=principal.tenant_id, group_by=group_by, start=start, end=end
        )


@analytics_router.get(
    "/recovery",
    response_model=analytics.RecoveryReport,
    summary="Recovery figures of the cases opened in [from, to), per group",
    responses=problem_responses(400),
)
async def recovery(
    principal: ReadPrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    raw_from: From = None,
    raw_to: To = None,
    group_by: GroupBy = "none",
) -> analytics.RecoveryReport:
    return await _report(principal, db, clock, raw_from, raw_to, group_by)


@analytics_router.get(
    "/recovery.csv",
    response_class=Response,
    summary="The recovery report as CSV: one row per group and currency",
    responses=_CSV_RESPONSE,
)
async def recovery_csv(
    principal: ReadPrincipal,
    db: DatabaseDep,
    clock: ClockDep,
    raw_from: From = None,
    raw_to: To = None,
    group_by: GroupBy = "none",
) -> Response:
    report = await _report(principal, db, clock, raw_from, raw_to, group_by)
    return Response(
        csv_export.report_lines(report),
        media_type=csv_export.CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="recovery.csv"'},
    )


@export_router.get(
    "/v1/cases.csv",
    response_class=StreamingResponse,
    summary="Every case matching the filters, as CSV (streamed), newest first",
    responses=_CSV_RESPONSE,
)
async def cases_csv(
    principal: ReadPrincipal,
    db: DatabaseDep,
    status: Annotated[str | None, Query(description=f"One of {', '.join(_LISTED)}")] = None,
    customer_id: Annotated[str | None, Query(max_length=255)] = None,
    raw_from: OpenedFrom = None,
    raw_to: OpenedTo = None,
) -> StreamingResponse:
    if status is not None and status not in _LISTED:
        raise Problem(400, f"status must be one of {', '.join(_LISTED)}", kind="invalid-filter")
    start = analytics.parse_instant("from", raw_from) if raw_from else None
    end = analytics.parse_instant("to", raw_to) if raw_to else None
    if start is not None and end is not None and start >= end:
        raise Problem(400, "from must be before to", kind="invalid-range")
    query = csv_export.export_query(
        tenant_id=principal.tenant_id, status=status, customer_id=customer_id, start=start, end=end
    )

    async def body() -> AsyncIterator[str]:
        # The unit of work lives as long as the stream: the cursor reads as the client takes.
        async with db.unit_of_work() as uow:
            async for chunk in csv_export.case_lines(uow.session, query):
                yield chunk

    return StreamingResponse(
        body(),
        media_type=csv_export.CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
    )
