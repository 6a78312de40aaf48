"""What the notify API returns: deliveries (messages), in-app notices, contacts, templates."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from dunning.notify.domain.channels import Channel


class Notification(BaseModel):
    id: str
    case_id: str | None
    invoice_id: str | None
    customer_id: str | None
    level: int | None
    level_name: str | None
    template: str
    channel: str
    status: str = Field(description="scheduled | held | sending | sent | failed | suppressed | canceled")
    due_at: datetime
    next_attempt_at: datetime
    attempts: int
    address: str | None = Field(description="Masked recipient.")
    locale: str | None
    subject: str | None
    body_text: str | None
    body_html: str | None
    note: str | None = Field(description="The latest decision: why it waits, was suppressed or failed.")
    reason_code: str | None
    sent_at: datetime | None
    created_at: datetime


class NotificationPage(BaseModel):
    data: list[Notification]
    next_cursor: str | None


class Notice(BaseModel):
    """An in-app notice for the platform to show the customer."""

    id: str
    case_id: str | None
    invoice_id: str | None
    template: str
    level_name: str | None
    locale: str | None
    title: str | None
    text: str | None
    sent_at: datetime


class NoticePage(BaseModel):
    data: list[Notice]
    next_cursor: str | None


class ContactBody(BaseModel):
    """What the platform knows better than the processor; set fields win over every other source."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()\-.]{6,24}$")
    name: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    time_zone: str | None = Field(default=None, max_length=64, examples=["Asia/Tokyo"])
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    region: str | None = Field(default=None, max_length=8)
    customer_type: str | None = Field(default=None, pattern=r"^(b2b|b2c)$")
    customer_value: int | None = Field(default=None, ge=0, description="Lifetime value, minor units.")
    metadata: dict[str, str] = Field(default_factory=dict, max_length=20)
    opt_out_channels: list[Channel] = Field(
        default_factory=list, description="Channels the customer refused."
    )
    account_owner_email: EmailStr | None = Field(
        default=None, description="Who in the tenant's team owns this account: internal escalations go there."
    )


class OptOut(BaseModel):
    channel: str
    address: str = Field(description="Masked address.")
    source: str
    created_at: datetime


class ContactView(BaseModel):
    customer_id: str
    override: ContactBody
    effective: dict[str, object] = Field(
        description="What a message would use now, merged from every source."
    )
    opt_outs: list[OptOut]


class TemplateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=500)
    text: str = Field(min_length=1, max_length=20_000)
    html: str | None = Field(default=None, max_length=100_000)


class TemplateView(TemplateBody):
    template: str
    channel: str
    locale: str
    source: str = Field(description="tenant (an override) | default")


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str
    channel: Channel
    locale: str = Field(default="en", pattern=r"^(en|ja|ko)$")
    source: TemplateBody | None = Field(default=None, description="Render this instead of the stored one.")


class PreviewAnswer(BaseModel):
    subject: str | None
    text: str
    html: str | None
    sms_segments: int | None = None
    warnings: list[str] = Field(default_factory=list)


class EndpointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=2000)


class EndpointView(BaseModel):
    kind: str
    url: str
    secret: str | None = Field(
        default=None, description="The signing secret (Standard Webhooks), shown once when set."
    )
    updated_at: datetime | None = None


class MailItem(BaseModel):
    name: str
    message_id: str | None
    to: str | None
    subject: str | None
    date: datetime
