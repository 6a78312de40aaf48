"""A tenant's API keys after they are issued: listing (never the secret) and revocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.pagination import before
from dunning.common.tenancy.service import key_prefix
from dunning.common.tenancy.tables import api_keys, tenants


class ApiKeyNotFound(LookupError):
    pass


class LastAdminKey(Exception):
    """Revoking this key would leave the tenant with no active admin key: nobody could make one."""


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    prefix: str
    label: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        row.id, key_prefix(row.id), row.label, tuple(row.scopes), row.created_at, row.revoked_at
    )


async def list_api_keys(
    session: AsyncSession, tenant_id: str, *, after: tuple[datetime, str] | None = None, limit: int = 50
) -> list[ApiKeyInfo]:
    """Newest first, revoked ones included (with ``revoked_at``)."""
    query = select(api_keys).where(api_keys.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(before(api_keys.c.created_at, api_keys.c.id, after))
    query = query.order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc()).limit(limit)
    return [_info(r) for r in await session.execute(query)]


async def get_api_key(session: AsyncSession, tenant_id: str, key_id: str) -> ApiKeyInfo | None:
    row = (
        await session.execute(
            select(api_keys).where(api_keys.c.id == key_id, api_keys.c.tenant_id == tenant_id)
        )
    ).first()
    return _info(row) if row else None


async def revoke_api_key(session: AsyncSession, tenant_id: str, key_id: str) -> ApiKeyInfo:
    """Revoke at once (the next request with it is refused); revoking a revoked key changes nothing."""
    # One revocation per tenant at a time: two concurrent ones must not each count the other
    # key as the admin key that remains.
    await session.execute(select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update())
    found = await get_api_key(session, tenant_id, key_id)
    if found is None:
        raise ApiKeyNotFound(key_id)
    if found.revoked_at is not None:
        return found
    if "admin" in found.scopes:
        other_admins = await session.scalar(
            select(func.count()).where(
                api_keys.c.tenant_id == tenant_id,
                api_keys.c.id != key_id,
                api_keys.c.revoked_at.is_(None),
                api_keys.c.scopes.any_() == "admin",
            )
        )
        if not other_admins:
            raise LastAdminKey(key_id)
    row = (
        await session.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.tenant_id == tenant_id)
            .values(revoked_at=func.now())
            .returning(*api_keys.c)
        )
    ).one()
    return _info(row)
