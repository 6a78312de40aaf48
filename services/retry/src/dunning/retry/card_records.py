"""What the tenant's attempts say about each card, whichever case made them: the charges the
network caps count (made and planned), and the `never` declines that rule a card out for all."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.retry.domain.decline_codes import DeclineCategory
from dunning.retry.domain.declines import classify_decline
from dunning.retry.tables import attempts

# Attempts that charged the card, or will or may: planned and running ones count too, so that
# several cases (one customer's invoices on one card) cannot overshoot a cap together.
CARD_COUNTED = ("scheduled", "claimed", "submitted", "failed", "succeeded")


async def card_attempt_times(
    session: AsyncSession, tenant_id: str, now: datetime, *, excluding: Collection[str] = ()
) -> dict[str, list[datetime]]:
    """Every charge on each of the tenant's cards since 31 days ago, made or planned (the networks
    count per card); ``excluding`` the attempts being decided or run."""
    query = select(attempts.c.method_id, attempts.c.due_at).where(
        attempts.c.tenant_id == tenant_id,
        attempts.c.kind == "charge",
        attempts.c.method_id.is_not(None),
        attempts.c.status.in_(CARD_COUNTED),
        attempts.c.due_at > now - timedelta(days=31),
    )
    if excluding:
        query = query.where(attempts.c.id.not_in(list(excluding)))
    times: dict[str, list[datetime]] = {}
    for method_id, at in (await session.execute(query)).all():
        times.setdefault(method_id, []).append(at)
    return times


async def never_declined(
    session: AsyncSession, tenant_id: str, method_ids: Collection[str]
) -> dict[str, datetime]:
    """The latest `never` decline (lost, stolen, fraudulent...) on each of ``method_ids``, in any of
    the tenant's cases: such a card must not be charged for any invoice."""
    if not method_ids:
        return {}
    rows = await session.execute(
        select(attempts).where(
            attempts.c.tenant_id == tenant_id,
            attempts.c.kind == "charge",
            attempts.c.status == "failed",
            attempts.c.method_id.in_(sorted(method_ids)),
        )
    )
    latest: dict[str, datetime] = {}
    for row in rows:
        advice = classify_decline(
            decline_code=row.decline_code,
            failure_code=row.failure_code,
            advice_code=row.advice_code,
            network_advice_code=row.network_advice_code,
            card_brand=row.card_brand,
        )
        if advice.category is DeclineCategory.NEVER:
            latest[row.method_id] = max(row.due_at, latest.get(row.method_id, row.due_at))
    return latest
