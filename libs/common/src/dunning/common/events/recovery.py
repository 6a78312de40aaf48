"""Canonical events on ``dunning.recovery-events.v1``: what happened to a dunning case.

Published by the retry service, keyed by the case key ``"{tenant}:{invoice_id}"`` like the
payment events that caused them, so a case's story stays ordered on one partition.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class RecoveryEventType(StrEnum):
    CASE_OPENED = "case.opened"
    CASE_RECOVERED = "case.recovered"
    CASE_EXHAUSTED = "case.exhausted"
    CASE_PAUSED = "case.paused"
    CASE_RESUMED = "case.resumed"
    CASE_WRITTEN_OFF = "case.written_off"
    CASE_DISPUTED = "case.disputed"
    CASE_CLOSED = "case.closed"
    # Collections with people in the loop (ADR 0009): what a customer or an operator arranged.
    CASE_PROMISE_MADE = "case.promise_made"
    CASE_PROMISE_KEPT = "case.promise_kept"
    CASE_PROMISE_BROKEN = "case.promise_broken"
    CASE_PLAN_STARTED = "case.plan_started"
    CASE_INSTALMENT_PAID = "case.instalment_paid"
    CASE_INSTALMENT_FAILED = "case.instalment_failed"
    CASE_PLAN_COMPLETED = "case.plan_completed"
    CASE_PLAN_DEFAULTED = "case.plan_defaulted"
    CASE_DISPUTE_RESOLVED = "case.dispute_resolved"
    CASE_SETTLEMENT_PROPOSED = "case.settlement_proposed"
    CASE_SETTLEMENT_APPROVED = "case.settlement_approved"
    CASE_SETTLEMENT_REJECTED = "case.settlement_rejected"
    ATTEMPT_SCHEDULED = "attempt.scheduled"
    ATTEMPT_SUCCEEDED = "attempt.succeeded"
    ATTEMPT_FAILED = "attempt.failed"

    @property
    def cloudevents_type(self) -> str:
        return f"dunning.{self.value}.v1"


class CollectionsFacts(BaseModel):
    """What a collections event is about: a promise, a plan or instalment, a customer dispute, a
    settlement (only the fields that apply are set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str | None = Field(default=None, description="customer | operator | dunning")
    promise_id: str | None = None
    pay_by: date | None = Field(default=None, description="The promised date, customer's local date.")
    plan_id: str | None = None
    instalments: int | None = Field(default=None, ge=1)
    instalment_number: int | None = Field(default=None, ge=1)
    instalment_amount: int | None = Field(default=None, ge=0, description="Minor units.")
    instalment_due: date | None = None
    payment_intent_id: str | None = None
    decline_code: str | None = None
    dispute_id: str | None = None
    dispute_reason: str | None = Field(
        default=None,
        description="not_received | wrong_amount | already_paid | cancelled | duplicate | quality | other",
    )
    dispute_outcome: str | None = Field(default=None, description="upheld | rejected")
    settlement_id: str | None = None
    settlement_amount: int | None = Field(default=None, ge=0, description="Minor units.")


class CaseEventData(BaseModel):
    """A case's state right after the change, and what caused it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    case_id: str
    invoice_id: str
    customer_id: str | None = None
    subscription_id: str | None = None
    status: str = Field(description="open | paused | exhausted | recovered | written_off | closed")
    note: str = Field(description="Why, in one line (also on the case timeline).")
    resolution: str | None = Field(default=None, description="paid, voided, uncollectible, ...")
    pause_reasons: list[str] = Field(default_factory=list)
    amount: int | None = Field(
        default=None, ge=0, description="Amount owed when the case changed, minor units."
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    failures: int = Field(ge=0, description="Failed payments seen on this case.")
    decline_code: str | None = None
    hosted_invoice_url: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    opened_at: AwareDatetime | None = None
    occurred_at: AwareDatetime = Field(description="When the cause happened (processor time for facts).")
    cause_event_id: str | None = Field(default=None, description="The payment event or action behind it.")
    cause_type: str = Field(description="e.g. 'payment.failed' or 'action.pause'.")
    collections: CollectionsFacts | None = Field(
        default=None, description="Set on case.promise_*, case.plan_*, case.instalment_*, ... events."
    )


class AttemptEventData(BaseModel):
    """A charge attempt of a case: planned (with why and when), or what came of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    case_id: str
    invoice_id: str
    attempt_id: str
    attempt_number: int = Field(ge=1)
    payment_method_id: str | None = Field(default=None, description="None: the invoice's default method.")
    due_at: AwareDatetime = Field(description="When it is (or was) due.")
    reason: str = Field(description="Why this attempt, at this time (human-readable).")
    success_probability: float | None = Field(default=None, ge=0, le=1)
    amount: int | None = Field(default=None, ge=0, description="Amount owed, minor units; null if unknown.")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    decline_code: str | None = None
    failure_code: str | None = None
    occurred_at: AwareDatetime


_ATTEMPT_TYPES = {
    RecoveryEventType.ATTEMPT_SCHEDULED,
    RecoveryEventType.ATTEMPT_SUCCEEDED,
    RecoveryEventType.ATTEMPT_FAILED,
}
DATA_MODELS: dict[RecoveryEventType, type[BaseModel]] = {
    t: AttemptEventData if t in _ATTEMPT_TYPES else CaseEventData for t in RecoveryEventType
}
