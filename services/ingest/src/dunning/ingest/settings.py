"""Ingest settings (``DUNNING_`` prefix) on top of the shared ones."""

from pydantic import Field

from dunning.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # How long a replica trusts its copy of a tenant's webhook secrets (0: read every time).
    webhook_secret_cache_seconds: float = Field(default=10.0, ge=0)
    # Raw bodies carry customer names and emails: emptied after this many days (rows stay for dedupe).
    webhook_raw_body_retention_days: int = Field(default=30, ge=1)
