"""Request and response bodies of the tenancy slice (tenant, API keys, processor keys, secrets)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scope = Literal["read", "write", "admin"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantView(BaseModel):
    tenant_id: str
    name: str
    created_at: datetime
    active_webhook_secrets: int


class TenantList(BaseModel):
    data: list[TenantView]


class NewTenant(_Body):
    name: str = Field(min_length=1, max_length=200)
    stripe_webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=500,
        description="Stripe's signing secret; generated if omitted",
    )


class CreatedTenant(BaseModel):
    tenant_id: str
    name: str
    api_key: str | None = Field(description="Shown once: null when an Idempotency-Key replays the answer")
    stripe_webhook_secret: str | None = Field(description="Shown once, like the API key")


class NewApiKey(_Body):
    scopes: list[Scope] = Field(min_length=1, description="`admin` includes `write`, which includes `read`")
    label: str = Field(default="", max_length=200, description="What the key is for, to recognize it later")


class ApiKeyView(BaseModel):
    id: str
    prefix: str = Field(description="How the key starts (`dk_<16 hex>`): tells keys apart, never the secret")
    label: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None


class CreatedApiKey(ApiKeyView):
    key: str | None = Field(
        description="The key, shown only in this answer (stored hashed); null when an Idempotency-Key "
        "replays the answer"
    )


class ApiKeyPage(BaseModel):
    data: list[ApiKeyView]
    next_cursor: str | None


class ProcessorKeyBody(_Body):
    api_key: str = Field(min_length=1, max_length=500, description="sk_live_, sk_test_, rk_live_ or rk_test_")


class ProcessorKeyView(BaseModel):
    provider: str
    key_hint: str = Field(description="The key's prefix and last four characters (`sk_test_…4242`)")
    livemode: bool
    updated_at: datetime


class NewWebhookSecret(_Body):
    provider: Literal["stripe"] = "stripe"
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=500,
        description="The processor's signing secret (Stripe's `whsec_...`); generated if omitted",
    )


class WebhookSecretView(BaseModel):
    id: str
    provider: str
    created_at: datetime
    retired_at: datetime | None


class CreatedWebhookSecret(WebhookSecretView):
    secret: str | None = Field(
        description="The secret, shown only in this answer; null when an Idempotency-Key replays the answer"
    )


class WebhookSecretPage(BaseModel):
    data: list[WebhookSecretView]
    next_cursor: str | None
