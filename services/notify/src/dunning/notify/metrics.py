"""Notify's Prometheus metrics."""

from prometheus_client import Counter

MESSAGES = Counter(
    "dunning_messages_total",
    "Delivery decisions and outcomes, by channel: sent, failed, suppressed, deferred, held, "
    "canceled, retried (a transient failure that will be tried again).",
    ["channel", "outcome"],
)
LEVELS = Counter("dunning_escalation_levels_total", "Escalation levels reached, by level name.", ["level"])
