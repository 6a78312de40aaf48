"""Retry's Prometheus metrics."""

from prometheus_client import Counter

ATTEMPTS = Counter(
    "dunning_retry_attempts_total",
    "Attempts the executor ran, by kind (charge, end_action, methods_lookup) and outcome.",
    ["kind", "outcome"],
)
