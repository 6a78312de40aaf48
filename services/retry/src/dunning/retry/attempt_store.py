"""All SQL about attempts: the processor's reported failures and our own, planned, claimed and
finished ones; the inputs the scheduler reads (history, learned outcomes; the card's in ``card_records``)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.retry.domain.declines import classify_decline
from dunning.retry.domain.history import AttemptHistory, PastAttempt
from dunning.retry.domain.learning import AttemptOutcome, OutcomeStats
from dunning.retry.tables import SCHEMA, attempts


async def next_number(session: AsyncSession, case_id: str) -> int:
    highest = await session.scalar(
        select(func.max(attempts.c.attempt_no)).where(attempts.c.case_id == case_id)
    )
    return int(highest or 0) + 1


async def has_pending(session: AsyncSession, case_id: str) -> bool:
    found = await session.scalar(
        select(attempts.c.id).where(
            attempts.c.case_id == case_id, attempts.c.status.in_(("scheduled", "claimed"))
        )
    )
    return found is not None


async def schedule(
    session: AsyncSession,
    *,
    case_id: str,
    tenant_id: str,
    kind: str,
    due_at: datetime,
    reason: str,
    method_id: str | None = None,
    card_brand: str | None = None,
    success_probability: float | None = None,
) -> tuple[str, int]:
    """A new attempt of ours; its id and number. The idempotency key is fixed here, once:
    ``case:number:method`` — whoever runs the attempt, however often, sends the same key."""
    number = await next_number(session, case_id)
    attempt_id = f"att_{secrets.token_hex(8)}"
    suffix = {"end_action": "end", "methods_lookup": "lookup"}.get(kind, method_id or "default")
    await session.execute(
        attempts.insert().values(
            id=attempt_id,
            case_id=case_id,
            tenant_id=tenant_id,
            attempt_no=number,
            kind=kind,
            source="dunning",
            status="scheduled",
            due_at=due_at,
            method_id=method_id,
            card_brand=card_brand,
            reason=reason,
            success_probability=success_probability,
            idempotency_key=f"{case_id}:{number}:{suffix}",
        )
    )
    return attempt_id, number


async def bring_forward(session: AsyncSession, case_id: str, *, now: datetime, note: str) -> bool:
    """Make the case's scheduled charge due now; False when there is none."""
    result = await session.execute(
        update(attempts)
        .where(attempts.c.case_id == case_id, attempts.c.status == "scheduled", attempts.c.kind == "charge")
        .values(due_at=now, reason=attempts.c.reason + f" — {note}")
        .returning(attempts.c.id)
    )
    return result.first() is not None


async def is_known_charge(session: AsyncSession, case_id: str, charge_id: str | None) -> bool:
    """Stripe reports one failed charge up to three times (invoice, payment intent and charge
    events), and our own failed charges come back as webhooks too: the charge id tells."""
    if not charge_id:
        return False
    found = await session.scalar(
        select(attempts.c.id).where(attempts.c.case_id == case_id, attempts.c.charge_ref == charge_id)
    )
    return found is not None


async def record_processor_failure(
    session: AsyncSession, *, case_id: str, tenant_id: str, at: datetime, facts: dict[str, Any]
) -> None:
    """Record a failure the processor reported (the caller checked ``is_known_charge``)."""
    await session.execute(
        attempts.insert().values(
            id=f"att_{secrets.token_hex(8)}",
            case_id=case_id,
            tenant_id=tenant_id,
            attempt_no=await next_number(session, case_id),
            kind="charge",
            source="processor",
            status="failed",
            due_at=at,
            method_id=facts.get("payment_method_id"),
            card_brand=facts.get("card_brand"),
            reason="reported by the processor",
            charge_ref=facts.get("charge_id"),
            decline_code=facts.get("decline_code"),
            failure_code=facts.get("failure_code"),
            advice_code=facts.get("advice_code"),
            network_advice_code=facts.get("network_advice_code"),
            finished_at=at,
        )
    )


async def claim_due(
    session: AsyncSession, *, now: datetime, worker: str, batch: int, ttl: timedelta
) -> list[Any]:
    """Take up to ``batch`` due attempts for ``worker``; claims older than ``ttl`` are taken back first."""
    # A claim that old belongs to a replica that died mid-attempt: run it again (same key).
    await session.execute(
        update(attempts)
        .where(attempts.c.status == "claimed", attempts.c.claimed_at < now - ttl)
        .values(status="scheduled", claimed_by=None)
    )
    result = await session.execute(
        text(
            f"UPDATE {SCHEMA}.attempts SET status = 'claimed', claimed_at = :now, claimed_by = :me "
            f"WHERE id IN (SELECT id FROM {SCHEMA}.attempts WHERE status = 'scheduled' AND due_at <= :now "
            "ORDER BY due_at LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING *"
        ),
        {"now": now, "me": worker, "n": batch},
    )
    # UPDATE ... RETURNING does not keep the subquery's order: run them in due order, every time.
    return sorted((row._mapping for row in result), key=lambda r: (r["due_at"], r["id"]))


async def still_claimed(session: AsyncSession, attempt_id: str, worker: str) -> bool:
    found = await session.scalar(
        select(attempts.c.id).where(
            attempts.c.id == attempt_id, attempts.c.status == "claimed", attempts.c.claimed_by == worker
        )
    )
    return found is not None


async def release(session: AsyncSession, attempt_id: str, worker: str, *, due_at: datetime) -> None:
    """Give a claimed attempt back to the schedule (its run failed for a reason of ours)."""
    await session.execute(
        update(attempts)
        .where(attempts.c.id == attempt_id, attempts.c.status == "claimed", attempts.c.claimed_by == worker)
        .values(status="scheduled", claimed_by=None, due_at=due_at)
    )


async def running(session: AsyncSession, case_id: str) -> bool:
    found = await session.scalar(
        select(attempts.c.id).where(attempts.c.case_id == case_id, attempts.c.status == "claimed")
    )
    return found is not None


async def finish(session: AsyncSession, attempt_id: str, values: dict[str, Any]) -> bool:
    """Write an attempt's outcome; True if the processor had already reported the same charge
    (its webhook overtook us), in which case that report is folded into this attempt."""
    await session.execute(update(attempts).where(attempts.c.id == attempt_id).values(**values))
    charge = values.get("charge_ref")
    if not charge:
        return False
    folded = await session.execute(
        attempts.delete().where(
            attempts.c.charge_ref == charge, attempts.c.source == "processor", attempts.c.id != attempt_id
        )
    )
    return bool(getattr(folded, "rowcount", 0))


async def cancel_pending(
    session: AsyncSession, case_id: str, why: str, *, method_id: str | None = None
) -> list[int]:
    """Scheduled attempts of a case that stopped needing them (recovered, paused, closed, re-planned),
    or only those charging ``method_id``; the numbers of those canceled."""
    query = update(attempts).where(attempts.c.case_id == case_id, attempts.c.status == "scheduled")
    if method_id is not None:
        query = query.where(attempts.c.method_id == method_id)
    result = await session.execute(
        query.values(
            status="canceled", reason=attempts.c.reason + f" — canceled: {why}", finished_at=func.now()
        ).returning(attempts.c.attempt_no)
    )
    return sorted(result.scalars())


async def lock_pending(session: AsyncSession, case_id: str) -> list[Any]:
    """The case's scheduled and running attempts, locked: no executor claims them while we re-plan."""
    query = (
        select(attempts)
        .where(attempts.c.case_id == case_id, attempts.c.status.in_(("scheduled", "claimed")))
        .order_by(attempts.c.due_at)
        .with_for_update()
    )
    return list((await session.execute(query)).all())


async def history(session: AsyncSession, case_id: str) -> AttemptHistory:
    rows = (
        await session.execute(
            select(attempts)
            .where(attempts.c.case_id == case_id, attempts.c.status == "failed", attempts.c.kind == "charge")
            .order_by(attempts.c.due_at)
        )
    ).all()
    return AttemptHistory(
        tuple(
            PastAttempt(
                at=row.due_at,
                method_id=row.method_id,
                card_brand=row.card_brand,
                advice=classify_decline(
                    decline_code=row.decline_code,
                    failure_code=row.failure_code,
                    advice_code=row.advice_code,
                    network_advice_code=row.network_advice_code,
                    card_brand=row.card_brand,
                ),
            )
            for row in rows
        )
    )


LEARNING_WINDOW = timedelta(days=180)
LEARNING_ROWS = 20_000


async def learned_stats(session: AsyncSession, tenant_id: str, now: datetime) -> OutcomeStats:
    """The tenant's own outcomes: each of our charges, and the decline it was retrying."""
    rows = await session.execute(
        text(
            f"SELECT due_at, status, attempt_no, retried FROM ("
            f" SELECT due_at, status, attempt_no, source, kind,"
            f"  lag(decline_code) OVER (PARTITION BY case_id ORDER BY attempt_no) AS retried"
            f" FROM {SCHEMA}.attempts WHERE tenant_id = :tenant AND due_at > :since"
            f"  AND status IN ('succeeded', 'failed')"
            f") AS a WHERE source = 'dunning' AND kind = 'charge' ORDER BY due_at DESC LIMIT :n"
        ),
        {"tenant": tenant_id, "since": now - LEARNING_WINDOW, "n": LEARNING_ROWS},
    )
    return OutcomeStats.from_outcomes(
        AttemptOutcome(
            at=r.due_at,
            succeeded=r.status == "succeeded",
            decline_code=r.retried,
            attempt_number=r.attempt_no,
        )
        for r in rows
    )


async def attempts_of(session: AsyncSession, case_id: str) -> list[Any]:
    query = select(attempts).where(attempts.c.case_id == case_id).order_by(attempts.c.attempt_no)
    return list((await session.execute(query)).all())
