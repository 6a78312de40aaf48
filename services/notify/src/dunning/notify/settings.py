"""Notify settings (``DUNNING_`` prefix) on top of the shared ones."""

from pydantic import Field, SecretStr

from dunning.common.settings import CommonSettings


class NotifySettings(CommonSettings):
    # Any Stripe-compatible server (contact enrichment); Stripe itself when unset.
    stripe_api_base: str | None = None
    # How long the processor's view of a customer's contact details is trusted before re-reading.
    notify_enrich_hours: float = Field(default=24.0, ge=0)
    # smtp://user:pass@host:587 (STARTTLS when offered) or smtps://host:465. Unset: mail is
    # written as .eml files under <data_dir>/mail/<tenant> and listed by GET /v1/mail.
    smtp_url: SecretStr | None = None
    # A Twilio-compatible SMS API. Unset account: SMS deliveries are suppressed, saying why.
    sms_api_base: str = "https://api.twilio.com"
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from: str | None = None
    # The From address when a tenant set none of its own (policy sender.from_address).
    mail_from: str = "billing@dunning.localhost"
    notify_worker_batch: int = Field(default=20, ge=1, le=500)
    notify_poll_seconds: float = Field(default=1.0, gt=0)
    # A delivery claimed longer ago than this belongs to a worker that died mid-send.
    notify_claim_ttl_seconds: float = Field(default=300.0, ge=1)
    notify_max_attempts: int = Field(default=8, ge=1, le=50)
