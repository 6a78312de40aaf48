"""The last check before a charge: the card network caps, counting what every case of the tenant has
made or planned on the card by now.

Planning counts other cases' planned charges, but two cases on one card can be planned at the
same moment (different partitions, different replicas), and an attempt may run later than it
was due; the caps are therefore checked again with the current view just before charging.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dunning.retry import card_records
from dunning.retry.domain.caps import check_card_caps, window_closes_at
from dunning.retry.domain.policy import RetryPolicy


@dataclass(frozen=True, slots=True)
class CapHold:
    """A charge the caps do not allow now: run it at ``retry_at``, or (None) plan the case afresh."""

    retry_at: datetime | None
    note: str


async def cap_hold(
    session: AsyncSession, attempt: Any, case: Any, policy: RetryPolicy, now: datetime
) -> CapHold | None:
    """None when the attempt may charge its card now (or is no charge on a known card)."""
    method_id = attempt["method_id"]
    if attempt["kind"] != "charge" or method_id is None:
        return None  # the invoice's default method: the processor picks it, we cannot count it
    declined = (await card_records.never_declined(session, case["tenant_id"], [method_id])).get(method_id)
    if declined is not None and declined > attempt["created_at"]:
        # Planned before another case learned the card is lost, stolen or fraudulent: never charge
        # it again; the scheduler, asked afresh, leaves the card out.
        return CapHold(
            None,
            f"not charged: the card was declined as never-retry at {declined:%Y-%m-%d %H:%M} "
            "UTC in another case; planned afresh without it",
        )
    times = await card_records.card_attempt_times(session, case["tenant_id"], now, excluding=[attempt["id"]])
    check = check_card_caps(times.get(method_id, []), attempt["card_brand"], now, policy.card_caps)
    if check.allowed:
        return None
    opened_at = case["opened_at"]
    closes = window_closes_at(opened_at, policy) if opened_at is not None else None
    if check.next_allowed_at is not None and closes is not None and check.next_allowed_at < closes:
        return CapHold(check.next_allowed_at, f"not charged: {check.reason}; the attempt waits until then")
    shut = f" (the window closes at {closes:%Y-%m-%d %H:%M} UTC)" if closes is not None else ""
    return CapHold(None, f"not charged: {check.reason}, too late for this case{shut}; planned afresh")
