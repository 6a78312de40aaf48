"""Event contracts: the CloudEvents envelope and the canonical event schemas of every topic."""

from dunning.common.events.envelope import CloudEvent, decode_event, encode_event
from dunning.common.events.topics import PAYMENT_EVENTS_TOPIC, dlq_topic

__all__ = ["PAYMENT_EVENTS_TOPIC", "CloudEvent", "decode_event", "dlq_topic", "encode_event"]
