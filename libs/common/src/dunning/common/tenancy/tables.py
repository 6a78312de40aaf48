"""Tables of the ``tenancy`` schema."""

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)

from dunning.common.idempotency import idempotency_table

metadata = MetaData(schema="tenancy")

tenants = Table(
    "tenants",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, ForeignKey("tenancy.tenants.id"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("label", Text, nullable=False, server_default=text("''")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Index("ix_api_keys_tenant", "tenant_id"),
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, ForeignKey("tenancy.tenants.id"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("retired_at", DateTime(timezone=True)),
    Index(
        "ix_webhook_secrets_active",
        "tenant_id",
        "provider",
        postgresql_where=text("retired_at IS NULL"),
    ),
)

processor_credentials = Table(
    "processor_credentials",
    metadata,
    Column("tenant_id", Text, ForeignKey("tenancy.tenants.id"), primary_key=True),
    Column("provider", Text, primary_key=True),
    Column("sealed_api_key", LargeBinary, nullable=False),
    Column("livemode", Boolean, nullable=False),
    # The key's prefix and last four characters, for humans to tell keys apart; never the key.
    Column("key_hint", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Answers of POST actions by Idempotency-Key; the operator's actions use tenant_id "_operator".
idempotency_keys = idempotency_table(metadata)
