"""The retry policy as the API reads and writes it (JSON), and its mapping to the domain object.

Every rule lives in ``domain.policy.RetryPolicy``; this module only translates, so the API
refuses exactly what the scheduler would refuse, with the scheduler's own message.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dunning.retry.domain.local_time import LocalHours
from dunning.retry.domain.policy import CardNetworkCaps, EndAction, NetworkCap, RetryMode, RetryPolicy

# A tenant that never chose gets observe: we must not retry while the processor's own retries
# may still be on (DESIGN §5: never both retry). Turning on own_retries is an explicit act.
TENANT_DEFAULT = RetryPolicy(mode=RetryMode.OBSERVE)


class CapBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(description="At most this many attempts on one card...")
    per_hours: int = Field(description="...in any rolling window of this many hours.")


class CardCapsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visa: list[CapBody]
    mastercard: list[CapBody]
    other: list[CapBody]


class HoursBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["08:00"])
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["20:00"])


class RetryPolicyBody(BaseModel):
    """A tenant's retry policy. Local hours are the customer's wall-clock time."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["own_retries", "observe"]
    max_attempts: int
    window_days: int
    cascade_delay_seconds: int
    allow_alternate_methods: bool
    card_caps: CardCapsBody
    end_action: Literal["cancel_subscription", "mark_uncollectible", "leave_past_due"]
    retry_hours: HoursBody
    payday_hours: HoursBody
    paydays: bool
    spacing_days: list[int]


def to_domain(body: RetryPolicyBody) -> RetryPolicy:
    """Raises ``ValueError`` with the domain's message when the policy is not acceptable."""
    return RetryPolicy(
        mode=RetryMode(body.mode),
        max_attempts=body.max_attempts,
        window_days=body.window_days,
        cascade_delay=_duration("cascade_delay_seconds", seconds=body.cascade_delay_seconds),
        allow_alternate_methods=body.allow_alternate_methods,
        card_caps=CardNetworkCaps(
            visa=_caps(body.card_caps.visa),
            mastercard=_caps(body.card_caps.mastercard),
            other=_caps(body.card_caps.other),
        ),
        end_action=EndAction(body.end_action),
        retry_hours=_hours(body.retry_hours),
        payday_hours=_hours(body.payday_hours),
        paydays=body.paydays,
        spacing_days=tuple(body.spacing_days),
    )


def from_domain(policy: RetryPolicy) -> RetryPolicyBody:
    return RetryPolicyBody(
        mode=policy.mode.value,
        max_attempts=policy.max_attempts,
        window_days=policy.window_days,
        cascade_delay_seconds=int(policy.cascade_delay.total_seconds()),
        allow_alternate_methods=policy.allow_alternate_methods,
        card_caps=CardCapsBody(
            visa=[_cap_body(c) for c in policy.card_caps.visa],
            mastercard=[_cap_body(c) for c in policy.card_caps.mastercard],
            other=[_cap_body(c) for c in policy.card_caps.other],
        ),
        end_action=policy.end_action.value,
        retry_hours=HoursBody(
            start=f"{policy.retry_hours.start:%H:%M}", end=f"{policy.retry_hours.end:%H:%M}"
        ),
        payday_hours=HoursBody(
            start=f"{policy.payday_hours.start:%H:%M}", end=f"{policy.payday_hours.end:%H:%M}"
        ),
        paydays=policy.paydays,
        spacing_days=list(policy.spacing_days),
    )


def _caps(caps: list[CapBody]) -> tuple[NetworkCap, ...]:
    return tuple(NetworkCap(c.limit, _duration("per_hours", hours=c.per_hours)) for c in caps)


def _duration(field: str, **amount: int) -> timedelta:
    # A number past timedelta's range is as wrong as a negative one: a 422, never an OverflowError.
    try:
        return timedelta(**amount)
    except OverflowError:
        raise ValueError(f"{field} is out of range: {next(iter(amount.values()))}") from None


def _cap_body(cap: NetworkCap) -> CapBody:
    return CapBody(limit=cap.limit, per_hours=int(cap.per.total_seconds() // 3600))


def _hours(body: HoursBody) -> LocalHours:
    return LocalHours(time.fromisoformat(body.start), time.fromisoformat(body.end))
