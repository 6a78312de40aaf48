"""CloudEvents 1.0 envelope in Kafka structured mode (JSON value, ``content-type`` header)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CONTENT_TYPE = "application/cloudevents+json"
# A fixed namespace so that the same fact always gets the same event id (uuid5), whoever
# normalizes it and however often: consumers' inboxes then drop re-deliveries and re-runs alike.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d2c1e-5b0a-4e58-9a57-0c1f0d7e4a11")


class CloudEvent(BaseModel):
    """One event on the bus. ``subject`` is also the Kafka key: the case key
    ``"{tenant}:{invoice_id}"``, or ``"{tenant}:customer:{customer_id}"`` for facts that name
    no invoice (docs/adr/0004-event-keys.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(pattern=r"^dunning\.[a-z_]+(\.[a-z_]+)+\.v[0-9]+$")
    subject: str = Field(min_length=1)
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    tenantid: str = Field(min_length=1)
    data: dict[str, Any]


def deterministic_event_id(*parts: str) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts)))


def make_event(
    *,
    event_id: str,
    source: str,
    type: str,
    subject: str,
    time: datetime,
    tenant_id: str,
    data: BaseModel,
) -> CloudEvent:
    return CloudEvent(
        id=event_id,
        source=source,
        type=type,
        subject=subject,
        time=time,
        tenantid=tenant_id,
        data=data.model_dump(mode="json"),
    )


def encode_event(event: CloudEvent) -> bytes:
    return event.model_dump_json().encode()


def decode_event(value: bytes) -> CloudEvent:
    return CloudEvent.model_validate_json(value)
