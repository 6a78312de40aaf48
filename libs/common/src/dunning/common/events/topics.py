"""Topic names: versioned, one per producing service (DESIGN §3)."""

PAYMENT_EVENTS_TOPIC = "dunning.payment-events.v1"
RECOVERY_EVENTS_TOPIC = "dunning.recovery-events.v1"
NOTIFICATION_EVENTS_TOPIC = "dunning.notification-events.v1"

ALL_TOPICS = (PAYMENT_EVENTS_TOPIC, RECOVERY_EVENTS_TOPIC, NOTIFICATION_EVENTS_TOPIC)


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"
