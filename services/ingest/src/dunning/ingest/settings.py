"""Ingest settings (``DUNNING_`` prefix) on top of the shared ones."""

from pydantic import Field

from dunning.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
