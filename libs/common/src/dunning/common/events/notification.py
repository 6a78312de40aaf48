"""Canonical events on ``dunning.notification-events.v1``: what notify said to a customer, or
chose not to say, and why.

Published by the notify service, keyed by the case key ``"{tenant}:{invoice_id}"`` when a
message belongs to a case (so the retry service can put it on the case timeline in order), and
by ``"{tenant}:customer:{customer_id}"`` otherwise (pre-dunning notices, opt-outs).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class NotificationEventType(StrEnum):
    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_FAILED = "notification.failed"
    NOTIFICATION_SUPPRESSED = "notification.suppressed"
    ESCALATION_LEVEL_CHANGED = "escalation.level_changed"
    COLLECTIONS_HANDED_OFF = "collections.handed_off"
    CUSTOMER_OPTED_OUT = "customer.opted_out"

    @property
    def cloudevents_type(self) -> str:
        return f"dunning.{self.value}.v1"


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    case_id: str | None = Field(
        default=None, description="The dunning case, when the message belongs to one."
    )
    invoice_id: str | None = None
    customer_id: str | None = None
    occurred_at: AwareDatetime


class NotificationData(_Base):
    """notification.sent / failed / suppressed: one message on one channel for one level."""

    delivery_id: str
    delivery_key: str = Field(
        description="'{tenant}:{case}:{level}:{channel}' (or a pre-dunning key): sent at most once per key."
    )
    level: int | None = Field(default=None, ge=0, description="Escalation level index; null for pre-dunning.")
    level_name: str | None = None
    template: str = Field(description="friendly | reminder | firm | final_notice | collections | ...")
    channel: str = Field(
        description="email | sms | in_app | webhook | agency (the collections hand-off) | "
        "internal_email | internal_chat (internal escalation to the tenant's team)"
    )
    locale: str | None = None
    address: str | None = Field(
        default=None, description="Masked recipient (e.g. 'j***@example.com'); never the full address."
    )
    subject: str | None = None
    attempts: int = Field(ge=0, description="Delivery attempts made.")
    provider_message_id: str | None = None
    reason: str | None = Field(default=None, description="Why it failed or was suppressed (human-readable).")
    reason_code: str | None = Field(
        default=None,
        description="Machine-readable: opted_out_channel, opted_out_address, no_address, channel_disabled, "
        "validation_notice_pending, no_provider, no_endpoint, provider_opt_out, or the channel's error code.",
    )


class LevelChangedData(_Base):
    """escalation.level_changed: the case's escalation reached a new level (or stopped)."""

    level: int | None = Field(
        ge=0,
        description="The level reached; null when the escalation started (nothing reached yet) or stopped.",
    )
    level_name: str | None = None
    previous_level: int | None = None
    status: str = Field(description="active | paused | stopped | completed")
    note: str = Field(description="Why, in one line.")
    next_level_due_at: AwareDatetime | None = None


class HandedOffData(_Base):
    """collections.handed_off: the case file given to the tenant's collections agency."""

    amount: int = Field(ge=0, description="Owed, minor units.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    fees: int = Field(default=0, ge=0, description="Dunning fees, interest and compensation, minor units.")
    opened_at: AwareDatetime | None = None
    customer_name: str | None = None
    customer_email: str | None = Field(
        default=None, description="Masked; the agency's delivery has it in full."
    )
    attempts: list[dict[str, Any]] = Field(default_factory=list, description="Charge attempts and outcomes.")
    messages: list[dict[str, Any]] = Field(default_factory=list, description="Messages sent or suppressed.")
    agency_delivery: str = Field(
        description="'pending' (a signed delivery to the agency's endpoint is scheduled; its outcome "
        "follows as notification.sent/failed with channel 'agency') or 'not_configured'."
    )


class OptedOutData(_Base):
    """customer.opted_out: a customer asked not to be contacted on a channel (or address)."""

    channel: str
    address: str | None = Field(default=None, description="Masked address the opt-out applies to.")
    source: str = Field(description="unsubscribe_link | sms_keyword | provider")
    opted_in: bool = Field(default=False, description="True when this is an opt-back-in (e.g. SMS START).")


DATA_MODELS: dict[NotificationEventType, type[_Base]] = {
    NotificationEventType.NOTIFICATION_SENT: NotificationData,
    NotificationEventType.NOTIFICATION_FAILED: NotificationData,
    NotificationEventType.NOTIFICATION_SUPPRESSED: NotificationData,
    NotificationEventType.ESCALATION_LEVEL_CHANGED: LevelChangedData,
    NotificationEventType.COLLECTIONS_HANDED_OFF: HandedOffData,
    NotificationEventType.CUSTOMER_OPTED_OUT: OptedOutData,
}
