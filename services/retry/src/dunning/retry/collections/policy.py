"""The tenant's collections policy as the API reads and writes it, and where it is stored.

Every rule lives in ``domain.CollectionsPolicy``; this module only translates, so the API refuses
exactly what the domain would, with the domain's message (422).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.retry.collections.domain import CollectionsPolicy
from dunning.retry.collections.tables import collections_policies

_BIG = 10**12


class CollectionsPolicyBody(BaseModel):
    """What customers (on the self-service page) and operators may arrange for an unpaid invoice."""

    model_config = ConfigDict(extra="forbid")

    promises_allowed: bool = Field(description="Customers and operators may record a promise to pay.")
    promise_horizon_days: int = Field(
        ge=1, le=365, description="A promise may name a date at most this many days ahead."
    )
    plans_allowed: bool
    max_instalments: int = Field(ge=2, le=60)
    min_instalment_amount: dict[str, int] = Field(
        max_length=200,
        description="Smallest instalment per currency (ISO 4217 → minor units); 1000 when absent.",
    )
    max_span_days: int = Field(ge=1, le=3660, description="First to last instalment, at most.")
    interval_days: int = Field(ge=1, le=92, description="Days between instalments.")


def to_domain(body: CollectionsPolicyBody) -> CollectionsPolicy:
    """Raises ``ValueError`` with the domain's message when the policy is not acceptable."""
    for currency, amount in body.min_instalment_amount.items():
        if "\x00" in currency or not 1 <= amount <= _BIG:
            raise ValueError(f"min_instalment_amount: {currency[:10]!r} must map to 1..{_BIG}")
    return CollectionsPolicy(
        promises_allowed=body.promises_allowed,
        promise_horizon_days=body.promise_horizon_days,
        plans_allowed=body.plans_allowed,
        max_instalments=body.max_instalments,
        min_instalment_amount={k.upper(): v for k, v in body.min_instalment_amount.items()},
        max_span_days=body.max_span_days,
        interval_days=body.interval_days,
    )


def from_domain(policy: CollectionsPolicy) -> CollectionsPolicyBody:
    return CollectionsPolicyBody(
        promises_allowed=policy.promises_allowed,
        promise_horizon_days=policy.promise_horizon_days,
        plans_allowed=policy.plans_allowed,
        max_instalments=policy.max_instalments,
        min_instalment_amount=dict(sorted(policy.min_instalment_amount.items())),
        max_span_days=policy.max_span_days,
        interval_days=policy.interval_days,
    )


async def tenant_policy(session: AsyncSession, tenant_id: str) -> CollectionsPolicy:
    stored: dict[str, Any] | None = await session.scalar(
        select(collections_policies.c.body).where(collections_policies.c.tenant_id == tenant_id)
    )
    return to_domain(CollectionsPolicyBody.model_validate(stored)) if stored else CollectionsPolicy()


async def put_policy(session: AsyncSession, tenant_id: str, policy: CollectionsPolicy) -> None:
    body = from_domain(policy).model_dump(mode="json")
    statement = insert(collections_policies).values(tenant_id=tenant_id, body=body)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[collections_policies.c.tenant_id],
            set_={"body": statement.excluded.body, "updated_at": func.now()},
        )
    )
