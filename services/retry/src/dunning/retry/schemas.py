"""Response bodies of the retry service's ``/v1`` slice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class TimelineEntry(BaseModel):
    at: datetime
    kind: str = Field(description="fact | action | attempt | message")
    type: str
    note: str
    cause_event_id: str | None
    data: dict[str, Any]


class Case(BaseModel):
    id: str
    invoice_id: str
    customer_id: str | None
    subscription_id: str | None
    status: str = Field(description="open | paused | exhausted | recovered | written_off | closed")
    opened_at: datetime
    failures: int
    pause_reasons: list[str]
    resolution: str | None
    resolved_at: datetime | None
    amount: int | None = Field(description="Amount owed, minor units of `currency`.")
    currency: str | None
    decline_code: str | None
    payment_method_id: str | None
    hosted_invoice_url: str | None
    provider: str
    provider_account: str | None
    updated_at: datetime


class Attempt(BaseModel):
    id: str
    attempt_no: int
    kind: str = Field(description="charge | end_action")
    source: str = Field(description="processor (its own attempt, reported) | dunning (ours)")
    status: str = Field(
        description="scheduled | claimed | succeeded | failed | submitted | refused | skipped | canceled"
    )
    due_at: datetime
    method_id: str | None
    reason: str = Field(description="Why this attempt, at this time.")
    success_probability: float | None
    decline_code: str | None
    failure_code: str | None
    finished_at: datetime | None


class CaseDetail(Case):
    attempts: list[Attempt]
    timeline: list[TimelineEntry]


class CasePage(BaseModel):
    data: list[Case]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
