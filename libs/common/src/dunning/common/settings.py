"""Settings every service shares, read from the environment with the ``DUNNING_`` prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Connection points and secrets.

    In embedded mode (``dunning run`` with no external servers) the database URL, the broker
    address and the secret key are filled in by the runner; everywhere else they are required
    and have no defaults, so a misconfigured deployment fails at start, not at first use.
    """

    model_config = SettingsConfigDict(env_prefix="DUNNING_", extra="ignore")

    embedded: bool = False
    data_dir: Path = Path(".dunning")
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    # Tansu and other Kafka-protocol brokers may lack the idempotent producer; Apache Kafka has it.
    kafka_enable_idempotence: bool = False
    kafka_topic_partitions: int = Field(default=6, ge=1)
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    secret_key: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True
    outbox_retention_days: int = Field(default=7, ge=1)

    @model_validator(mode="after")
    def _require_outside_embedded(self) -> Self:
        if self.embedded:
            return self
        missing = [
            f"DUNNING_{name.upper()}"
            for name in ("database_url", "kafka_bootstrap", "secret_key")
            if getattr(self, name) is None
        ]
        if missing:
            raise ValueError(f"missing required settings: {', '.join(missing)}")
        return self

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise RuntimeError("DUNNING_DATABASE_URL is not set and no embedded database is running")
        return self.database_url

    def require_kafka_bootstrap(self) -> str:
        if self.kafka_bootstrap is None:
            raise RuntimeError("DUNNING_KAFKA_BOOTSTRAP is not set and no embedded broker is running")
        return self.kafka_bootstrap
