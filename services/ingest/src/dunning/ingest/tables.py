"""Tables of the ``ingest`` schema: every webhook we accepted, and the outbox."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from dunning.common.outbox import outbox_tables

SCHEMA = "ingest"
metadata = MetaData(schema=SCHEMA)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("provider_event_id", Text, nullable=False),
    Column("provider_event_type", Text, nullable=False),
    Column("provider_account", Text),
    Column("livemode", Boolean, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # accepted: produced canonical events; ignored: verified and kept, but means nothing to us.
    Column("outcome", Text, nullable=False),
    Column("ignored_reason", Text),
    Column("canonical_types", Text, nullable=False, server_default=""),
    # The exact bytes Stripe signed: re-verifiable and re-normalizable later (backfills).
    Column("raw_body", LargeBinary, nullable=False),
    Index("ix_webhook_events_received_at", "received_at"),
    UniqueConstraint("tenant_id", "provider", "provider_event_id", name="uq_webhook_events_provider_event"),
)

outbox, outbox_watermarks = outbox_tables(metadata)
