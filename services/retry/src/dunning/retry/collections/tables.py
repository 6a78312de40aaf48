"""Tables of collections with people in the loop, in the ``retry`` schema: promises, payment plans
and their instalments, customer disputes, settlements, adjustments (write-offs), notes, policy."""

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from dunning.retry.tables import metadata

collections_policies = Table(
    "collections_policies",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("body", JSONB, nullable=False),  # policy.CollectionsPolicyBody, validated before saving
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

promises = Table(
    "promises",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("pay_by", Date, nullable=False),  # the customer's local date
    # The end of ``pay_by`` in the customer's zone: the durable timer that checks the promise.
    Column("check_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),  # active | claimed | kept | broken | canceled
    Column("source", Text, nullable=False),  # customer | operator
    Column("actor", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("claimed_by", Text),
    Index("ix_promises_due", "check_at", postgresql_where=text("status = 'active'")),
    Index("ix_promises_claimed", "claimed_at", postgresql_where=text("status = 'claimed'")),
    Index("ix_promises_case", "case_id"),
    # One active promise per case, enforced by the database whatever races.
    Index(
        "uq_promises_active_case",
        "case_id",
        unique=True,
        postgresql_where=text("status IN ('active', 'claimed')"),
    ),
)

plans = Table(
    "plans",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # payment_plan | settlement
    Column("status", Text, nullable=False),  # active | completed | defaulted | canceled
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("instalments", Integer, nullable=False),
    Column("settlement_id", Text),
    Column("source", Text, nullable=False),
    Column("actor", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("note", Text),
    Index("ix_plans_case", "case_id"),
    Index("uq_plans_active_case", "case_id", unique=True, postgresql_where=text("status = 'active'")),
)

instalments = Table(
    "instalments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("plan_id", Text, ForeignKey("retry.plans.id"), nullable=False),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("due_on", Date, nullable=False),  # the customer's local date
    Column("due_at", DateTime(timezone=True), nullable=False),  # when the next try runs
    Column("status", Text, nullable=False),  # scheduled | claimed | paid | failed | canceled
    Column("tries", Integer, nullable=False, server_default=text("0")),  # tries finished
    Column("payment_intent_id", Text),
    Column("decline_code", Text),
    Column("failure_code", Text),
    Column("claimed_at", DateTime(timezone=True)),
    Column("claimed_by", Text),
    Column("paid_at", DateTime(timezone=True)),
    Column("note", Text),
    UniqueConstraint("plan_id", "number", name="uq_instalments_plan_number"),
    Index("ix_instalments_due", "due_at", postgresql_where=text("status = 'scheduled'")),
    Index("ix_instalments_claimed", "claimed_at", postgresql_where=text("status = 'claimed'")),
    Index("ix_instalments_case", "case_id"),
)

customer_disputes = Table(
    "customer_disputes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", Text),
    Column("status", Text, nullable=False),  # open | upheld | rejected
    Column("source", Text, nullable=False),
    Column("actor", Text),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", Text),
    Column("resolution_note", Text),
    Index("ix_customer_disputes_case", "case_id"),
    Index(
        "uq_customer_disputes_open_case",
        "case_id",
        unique=True,
        postgresql_where=text("status = 'open'"),
    ),
)

settlements = Table(
    "settlements",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("original_amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    # pending_approval | approved | rejected | paid | canceled
    Column("status", Text, nullable=False),
    Column("proposed_by", Text, nullable=False),  # the API key's id (four eyes: not the approver)
    Column("decided_by", Text),
    Column("decision_note", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Index("ix_settlements_case", "case_id"),
    Index("ix_settlements_tenant_created", "tenant_id", "created_at"),
)

adjustments = Table(
    "adjustments",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # settlement | write_off
    Column("reason", Text, nullable=False),
    Column("note", Text),
    Column("original_amount", BigInteger),
    Column("collected", BigInteger, nullable=False),
    Column("written_off", BigInteger),
    Column("currency", Text),
    Column("settlement_id", Text),
    Column("approved_by", Text),
    Column("actor", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_adjustments_tenant_at", "tenant_id", "at"),
)

case_notes = Table(
    "case_notes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, ForeignKey("retry.cases.id"), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # note | call | agreement
    Column("body", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_case_notes_case_created", "case_id", "created_at"),
)
