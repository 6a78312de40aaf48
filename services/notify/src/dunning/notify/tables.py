"""Tables of the ``notify`` schema: escalations per case, one delivery row per message, what we
know of each customer's contact details and consent, the tenant's policy and templates."""

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from dunning.common.idempotency import idempotency_table
from dunning.common.inbox import inbox_table
from dunning.common.outbox import outbox_tables

SCHEMA = "notify"
metadata = MetaData(schema=SCHEMA)

# What the events told us about each invoice: payment events and case events arrive on different
# topics (no order between them), so facts accumulate here and are read when a message renders.
invoices = Table(
    "invoices",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("invoice_id", Text, primary_key=True),
    Column("customer_id", Text),
    Column("invoice_number", Text),
    Column("due_date", Date),
    Column("hosted_invoice_url", Text),
    Column("amount", BigInteger),
    Column("currency", Text),
    Column("last_fact_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

escalations = Table(
    "escalations",
    metadata,
    Column("case_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("invoice_id", Text, nullable=False),
    Column("customer_id", Text),
    # active | paused | stopped | completed
    Column("status", Text, nullable=False),
    Column("status_note", Text, nullable=False),
    Column("case_status", Text, nullable=False),
    Column("pause_reasons", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("paused_at", DateTime(timezone=True)),
    Column("policy_name", Text, nullable=False),
    Column("policy", JSONB, nullable=False),  # a snapshot: a policy edit never re-sends a level
    Column("policy_note", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("reached_level", Integer),
    Column("reached_at", DateTime(timezone=True)),
    Column("next_level", Integer),
    Column("next_due_at", DateTime(timezone=True)),
    Column("next_note", Text),
    Column("last_case_event_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_escalations_due", "next_due_at", postgresql_where=text("status = 'active'")),
    Index("ix_escalations_tenant_invoice", "tenant_id", "invoice_id"),
)

# The retry service's story of a case (attempts and transitions), kept for the collections case file.
case_history = Table(
    "case_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", Text, nullable=False),
    Column("case_id", Text, nullable=False),
    Column("event_id", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("summary", JSONB, nullable=False),
    Index("ix_case_history_case_at", "case_id", "at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    # '{tenant}:{case}:{level}:{channel}' (or a pre-dunning key): a message goes out at most once.
    Column("key", Text, nullable=False, unique=True),
    Column("case_id", Text),
    Column("invoice_id", Text),
    Column("customer_id", Text),
    Column("level", Integer),
    Column("level_name", Text),
    Column("template", Text, nullable=False),
    Column("channel", Text, nullable=False),
    # scheduled | sending | sent | failed | suppressed | canceled
    Column("status", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("claimed_by", Text),
    Column("claimed_at", DateTime(timezone=True)),
    # Set, in its own commit, when an email's content is with the server and only the end of
    # data is left to send (ADR 0007): from then on the message counts as sent.
    Column("handed_off_at", DateTime(timezone=True)),
    Column("address", Text),
    Column("locale", Text),
    Column("subject", Text),
    Column("body_text", Text),
    Column("body_html", Text),
    Column("provider_message_id", Text),
    # What this message alone needs to say (a pre-dunning notice's card); case facts come from invoices.
    Column("facts", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("note", Text),  # the latest decision: why it waits, was suppressed or failed
    Column("reason_code", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("read_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'scheduled'")),
    Index("ix_deliveries_sending", "claimed_at", postgresql_where=text("status = 'sending'")),
    Index("ix_deliveries_case", "tenant_id", "case_id", "created_at"),
    Index("ix_deliveries_customer", "tenant_id", "customer_id", "channel", "created_at"),
)

# Three layers per customer, merged at send time: what the platform set (wins), what the
# processor's customer object says, what the events carried.
contacts = Table(
    "contacts",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("customer_id", Text, primary_key=True),
    Column("observed", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("processor", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("override", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("enriched_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Per-address consent: an unsubscribe link or an SMS STOP applies to that address on that
# channel, whoever it belongs to; opting back in (SMS START) deletes the row.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("address", Text, primary_key=True),  # normalized: lower-cased email, E.164 phone
    Column("customer_id", Text),
    Column("source", Text, nullable=False),  # unsubscribe_link | sms_keyword | provider
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

policies = Table(
    "policies",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("body", JSONB, nullable=False),  # policy_schema.NotifyPolicyBody
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

templates = Table(
    "templates",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("template", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("locale", Text, primary_key=True),
    Column("subject", Text),
    Column("text", Text, nullable=False),
    Column("html", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Where the platform's own webhook and the collections agency's webhook point; secrets sealed.
endpoints = Table(
    "endpoints",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("kind", Text, primary_key=True),  # platform | agency
    Column("url", Text, nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The B2B track (ADR 0010): what the platform set per business customer (payment terms, extra
# contacts with roles), kept apart from the contact override, which PUT .../contact replaces whole.
b2b_customers = Table(
    "b2b_customers",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("customer_id", Text, primary_key=True),
    Column("payment_terms_days", Integer),
    Column("contacts", JSONB, nullable=False, server_default=text("'[]'::jsonb")),  # [{email, role, name}]
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One durable timer per b2b case: the demand-letter thresholds (days overdue) snapshotted when the
# case's escalation started, which of them fired, and when the next one is due.
letter_timers = Table(
    "letter_timers",
    metadata,
    Column("case_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("customer_id", Text),
    Column("invoice_id", Text, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("thresholds", ARRAY(Integer), nullable=False),
    Column("fired", ARRAY(Integer), nullable=False, server_default=text("'{}'")),
    Column("next_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_letter_timers_due", "next_at", postgresql_where=text("next_at IS NOT NULL")),
)

# The PDF a demand-letter delivery carried, served by GET /v1/notifications/{id}/letter.pdf.
letters = Table(
    "letters",
    metadata,
    Column("delivery_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("pdf", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

inbox = inbox_table(metadata)
idempotency_keys = idempotency_table(metadata)
outbox, outbox_watermarks = outbox_tables(metadata)
