"""``POST /v1/webhooks/{provider}/{tenant_id}``: the only door processors knock on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.requests import Request

from dunning.common.problems import Problem
from dunning.ingest.metrics import WEBHOOKS
from dunning.ingest.pipeline import UnknownProvider, UnknownTenant, WebhookPipeline
from dunning.ingest.processors.base import (
    InvalidSignature,
    MalformedEvent,
    MissingSignature,
    WebhookRejected,
)

router = APIRouter(tags=["webhooks"])

TenantId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
ProviderName = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")]


async def get_pipeline(request: Request) -> WebhookPipeline:
    pipeline: WebhookPipeline = request.app.state.webhook_pipeline
    return pipeline


async def get_body_limit(request: Request) -> int:
    limit: int = request.app.state.webhook_max_body_bytes
    return limit


PipelineDep = Annotated[WebhookPipeline, Depends(get_pipeline)]
BodyLimitDep = Annotated[int, Depends(get_body_limit)]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem(400, "Content-Length is not a number", kind="bad-content-length")
        if int(declared) > limit:
            raise Problem(413, f"the body is larger than {limit} bytes", kind="body-too-large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the body is larger than {limit} bytes", kind="body-too-large")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/webhooks/{provider}/{tenant_id}",
    summary="Receive a payment processor webhook",
    responses={
        400: {"description": "Missing or invalid signature, or not an event"},
        404: {"description": "Unknown tenant or processor"},
        413: {"description": "Body over the limit (1 MiB by default)"},
    },
)
async def receive_webhook(
    provider: ProviderName,
    tenant_id: TenantId,
    request: Request,
    pipeline: PipelineDep,
    limit: BodyLimitDep,
) -> dict[str, Any]:
    """Verify, store once and stage canonical events; 200 means it is durable.

    A duplicate delivery answers 200 with ``status: duplicate`` and stores nothing new; an
    event type we do not act on answers 200 with ``status: ignored`` and is kept for audit.
    """
    try:
        pipeline.adapter(provider)
    except UnknownProvider:
        WEBHOOKS.labels(provider="unknown", outcome="unknown_provider").inc()
        raise Problem(404, f"no webhook processor named {provider!r}", kind="unknown-provider") from None
    try:
        body = await read_body(request, limit)
    except Problem as problem:
        WEBHOOKS.labels(
            provider=provider, outcome="too_large" if problem.status == 413 else "malformed"
        ).inc()
        raise
    try:
        outcome = await pipeline.receive(provider, tenant_id, body, request.headers)
    except UnknownTenant:
        WEBHOOKS.labels(provider=provider, outcome="unknown_tenant").inc()
        raise Problem(404, "no tenant with this id", kind="unknown-tenant") from None
    except WebhookRejected as exc:
        outcome_label, kind = _rejection(exc)
        WEBHOOKS.labels(provider=provider, outcome=outcome_label).inc()
        raise Problem(exc.status_code, exc.reason, kind=kind) from None
    WEBHOOKS.labels(provider=provider, outcome=outcome.status).inc()
    answer: dict[str, Any] = {
        "status": outcome.status,
        "provider_event_id": outcome.provider_event_id,
    }
    if outcome.events:
        answer["events"] = outcome.events
    if outcome.reason:
        answer["reason"] = outcome.reason
    return answer


def _rejection(exc: WebhookRejected) -> tuple[str, str]:
    """(metric outcome, problem type) for a rejected webhook; snake_case, bounded set."""
    if isinstance(exc, MissingSignature):
        return "missing_signature", "missing-signature"
    if isinstance(exc, InvalidSignature):
        return "invalid_signature", "invalid-signature"
    if isinstance(exc, MalformedEvent):
        return "malformed", "malformed-event"
    return "rejected", "webhook-rejected"
