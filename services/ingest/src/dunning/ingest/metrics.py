"""Ingest's Prometheus metrics."""

from prometheus_client import Counter

WEBHOOKS = Counter(
    "dunning_webhooks_total",
    "Webhooks received, by outcome (accepted, ignored, duplicate, or why rejected).",
    ["provider", "outcome"],
)
