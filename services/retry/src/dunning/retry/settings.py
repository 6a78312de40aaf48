"""Retry settings (``DUNNING_`` prefix) on top of the shared ones."""

from pydantic import Field

from dunning.common.settings import CommonSettings


class RetrySettings(CommonSettings):
    # Any Stripe-compatible server (a test double, stripe-mock); Stripe itself when unset.
    stripe_api_base: str | None = None
    retry_worker_batch: int = Field(default=10, ge=1, le=500)
    retry_poll_seconds: float = Field(default=1.0, gt=0)
    # A claim older than this belongs to a replica that died mid-attempt: another runs it again
    # (with the same idempotency key). Longer than the slowest processor call, retries included.
    retry_claim_ttl_seconds: float = Field(default=600.0, ge=1)
