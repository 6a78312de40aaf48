"""Prometheus metrics shared by the kit; services add their own to the same default registry."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

OUTBOX_PUBLISHED = Counter(
    "dunning_outbox_published_total", "Outbox rows published to the broker.", ["schema", "topic"]
)
OUTBOX_REPUBLISHED = Counter(
    "dunning_outbox_republished_total",
    "Outbox rows queued again because the broker lost what it had (restart, truncation).",
    ["schema", "topic"],
)
OUTBOX_LAG_SECONDS = Gauge(
    "dunning_outbox_lag_seconds",
    "Age of the oldest unpublished outbox row (0 when empty).",
    ["schema"],
)
OUTBOX_PENDING = Gauge("dunning_outbox_pending", "Unpublished outbox rows.", ["schema"])
OUTBOX_PUBLISH_ERRORS = Counter(
    "dunning_outbox_publish_errors_total", "Failed publish batches (retried).", ["schema"]
)
CONSUMER_EVENTS = Counter(
    "dunning_consumer_events_total",
    "Records handled by a consumer, by outcome (applied, duplicate, dead_lettered).",
    ["consumer", "topic", "outcome"],
)
CONSUMER_LAG = Gauge(
    "dunning_consumer_lag", "Records behind the partition end.", ["consumer", "topic", "partition"]
)
HTTP_REQUEST_SECONDS = Histogram(
    "dunning_http_request_seconds",
    "HTTP request latency by route template.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
