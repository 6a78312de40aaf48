"""Settings every service shares, read from the environment with the ``DUNNING_`` prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MissingSettings(ValueError):
    """A role was started without settings it cannot run without."""


class CommonSettings(BaseSettings):
    """Connection points and secrets.

    In embedded mode (``dunning run`` with no external servers) the database URL, the broker
    address and the secret key are filled in by the runner. Everywhere else each role states
    what it needs with ``require(...)`` at start, so a misconfigured deployment fails at once
    with every missing name, not at first use.
    """

    model_config = SettingsConfigDict(env_prefix="DUNNING_", extra="ignore")

    data_dir: Path = Path(".dunning")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    # Tansu and other Kafka-protocol brokers may lack the idempotent producer; Apache Kafka has it.
    kafka_enable_idempotence: bool = False
    kafka_topic_partitions: int = Field(default=6, ge=1)
    # POD_NAME as the consumers' static group membership id. A static member keeps its
    # partitions across a quick restart of the same pod (a StatefulSet, a container restart),
    # but does not leave the group on stop: its partitions wait for the session timeout. Off by
    # default, because Deployment pods get new names on every rollout.
    kafka_static_membership: bool = False
    kafka_replication_factor: int = Field(default=1, ge=1)
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    secret_key: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True
    outbox_retention_days: int = Field(default=7, ge=1)
    # Per API key and per replica (an in-process token bucket): N replicas allow N times this.
    api_rate_per_second: float = Field(default=50.0, gt=0)
    api_rate_burst: int = Field(default=100, ge=1)
    # HTTP limits against hostile clients (dunning.common.http_server): a whole request (headers
    # and body) must arrive within this many seconds of its first byte, else the connection is
    # closed (slowloris); idle keep-alive connections close after the keep-alive timeout; past
    # this many open connections new requests get 503; bodies over the size get 413 (the webhook
    # route's own, smaller limit still applies).
    http_request_read_timeout: float = Field(default=30.0, gt=0)
    http_keep_alive_timeout: int = Field(default=5, ge=1)
    http_max_connections: int = Field(default=1000, ge=1)
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The operator's token for cross-tenant routes (/v1/tenants); unset turns those routes off.
    admin_token: SecretStr | None = None
    # Where customers and the SMS provider reach us (unsubscribe and self-service links, the
    # inbound-SMS webhook): the public host, reachable from the internet, that routes
    # /v1/unsubscribe and /v1/sms/inbound to notify and /pay/ to retry. Unset: http://<host>:<port>.
    public_url: str | None = None
    # How long the self-service link in a message keeps working (dunning.common.selfservice_link).
    self_service_link_days: int = Field(default=45, ge=1, le=365)

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError("DUNNING_ADMIN_TOKEN must be at least 32 characters (e.g. openssl rand -hex 32)")
        return value

    def require(self, *names: str) -> None:
        missing = [f"DUNNING_{name.upper()}" for name in names if getattr(self, name) is None]
        if missing:
            raise MissingSettings(f"missing required settings: {', '.join(missing)}")

    def require_database_url(self) -> str:
        self.require("database_url")
        assert self.database_url is not None
        return self.database_url

    def require_kafka_bootstrap(self) -> str:
        self.require("kafka_bootstrap")
        assert self.kafka_bootstrap is not None
        return self.kafka_bootstrap

    def public_base(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    def require_secret_key(self) -> str:
        self.require("secret_key")
        assert self.secret_key is not None
        return self.secret_key.get_secret_value()
