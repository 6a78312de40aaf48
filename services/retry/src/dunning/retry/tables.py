"""Tables of the ``retry`` schema: one ledger row per known invoice (the dunning case), its
timeline, and the service's inbox and outbox."""

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from dunning.common.idempotency import idempotency_table
from dunning.common.inbox import inbox_table
from dunning.common.outbox import outbox_tables

SCHEMA = "retry"
metadata = MetaData(schema=SCHEMA)

cases = Table(
    "cases",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("invoice_id", Text, nullable=False),
    Column("customer_id", Text),
    Column("subscription_id", Text),
    # "none" rows are ledgers of invoices that never needed dunning: they stop late facts
    # (a failure reported after the payment) from opening a case.
    Column("status", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True)),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("pause_reasons", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("resolution", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("last_fact_at", DateTime(timezone=True)),
    Column("amount", BigInteger),
    Column("currency", Text),
    Column("decline_code", Text),
    Column("payment_method_id", Text),
    Column("hosted_invoice_url", Text),
    Column("customer_email", Text),
    Column("customer_name", Text),
    Column("provider", Text, nullable=False),
    Column("provider_account", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The billing address's country and region: the customer's time zone is read from them.
    Column("customer_country", Text),
    Column("customer_region", Text),
    # What the customer's invoice says (the self-service page shows them).
    Column("invoice_number", Text),
    Column("due_date", DateTime(timezone=True)),
    UniqueConstraint("tenant_id", "invoice_id", name="uq_cases_tenant_invoice"),
    Index("ix_cases_tenant_status_opened", "tenant_id", "status", "opened_at"),
    Index("ix_cases_tenant_customer", "tenant_id", "customer_id"),
    # Analytics cohorts and the CSV export select a tenant's cases by opening time, any status.
    Index("ix_cases_tenant_opened", "tenant_id", "opened_at"),
)

timeline = Table(
    "case_timeline",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("kind", Text, nullable=False),  # fact | action | attempt | message
    Column("type", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("cause_event_id", Text),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("ix_case_timeline_case_at", "case_id", "at"),
    # Analytics: a case's sent messages before its recovery, and the last of them.
    Index("ix_case_timeline_sent", "case_id", "at", postgresql_where=text("type = 'notification.sent'")),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("kind", Text, nullable=False),  # charge | end_action
    Column("source", Text, nullable=False),  # processor (its own attempt, reported) | dunning (ours)
    Column("status", Text, nullable=False),  # scheduled | claimed | succeeded | failed | skipped | canceled
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("method_id", Text),
    Column("card_brand", Text),
    Column("reason", Text, nullable=False),
    Column("success_probability", Float),
    # case_id:attempt_no:method: the Stripe idempotency key, so no retry can charge twice.
    Column("idempotency_key", Text, unique=True),
    Column("charge_ref", Text),  # the processor's charge id, to recognise the same failure reported twice
    Column("decline_code", Text),
    Column("failure_code", Text),
    Column("advice_code", Text),
    Column("network_advice_code", Text),
    Column("claimed_at", DateTime(timezone=True)),
    Column("claimed_by", Text),
    Column("finished_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("case_id", "attempt_no", name="uq_attempts_case_number"),
    Index("ix_attempts_due", "due_at", postgresql_where=text("status = 'scheduled'")),
    # Taking back a dead executor's claims reads only claimed rows, not the whole table (bench/load.py).
    Index("ix_attempts_claimed", "claimed_at", postgresql_where=text("status = 'claimed'")),
    Index("ix_attempts_charge_ref", "case_id", "charge_ref"),
    # Learning reads a tenant's recent outcomes; card caps read a card's recent attempts.
    Index("ix_attempts_tenant_due", "tenant_id", "due_at"),
    Index("ix_attempts_method_due", "tenant_id", "method_id", "due_at"),
)

policies = Table(
    "policies",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    # The API's JSON shape (policy_schema.RetryPolicyBody), validated by the domain before saving.
    Column("body", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

inbox = inbox_table(metadata)
idempotency_keys = idempotency_table(metadata)
outbox, outbox_watermarks = outbox_tables(metadata)

# Collections (promises, plans, disputes, settlements, notes) live in the same schema and the
# same metadata, so the migration drift check sees them; imported last (they reference cases).
from dunning.retry.collections import tables as _collections_tables  # noqa: E402, F401
