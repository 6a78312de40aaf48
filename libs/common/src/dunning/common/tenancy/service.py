"""Tenant lifecycle, API keys and webhook secrets; callers own the transaction (flush only)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.common.crypto import SecretBox, hash_token
from dunning.common.pagination import before
from dunning.common.tenancy.tables import api_keys, processor_credentials, tenants, webhook_secrets

SCOPES = ("read", "write", "admin")
API_KEY_PREFIX = "dk_"


class TenantNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class CreatedTenant:
    tenant_id: str
    name: str
    api_key: str
    stripe_webhook_secret: str


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant_id: str
    name: str
    created_at: datetime
    active_webhook_secrets: int


@dataclass(frozen=True, slots=True)
class WebhookSecretInfo:
    secret_id: str
    provider: str
    created_at: datetime
    retired_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant, through one of its API keys, with these scopes."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def new_stripe_webhook_secret() -> str:
    # The same shape Stripe gives its endpoint secrets, so tools that expect one accept ours.
    return "whsec_" + secrets.token_urlsafe(32)


async def create_tenant(
    session: AsyncSession,
    box: SecretBox,
    name: str,
    *,
    stripe_webhook_secret: str | None = None,
) -> CreatedTenant:
    if not name.strip():
        raise ValueError("a tenant needs a name")
    tenant_id = _new_id("ten")
    await session.execute(tenants.insert().values(id=tenant_id, name=name.strip()))
    api_key = await create_api_key(session, tenant_id, scopes=SCOPES, label="initial")
    secret = stripe_webhook_secret or new_stripe_webhook_secret()
    await add_webhook_secret(session, box, tenant_id, "stripe", secret)
    return CreatedTenant(
        tenant_id=tenant_id, name=name.strip(), api_key=api_key, stripe_webhook_secret=secret
    )


def _tenant_summaries() -> Select[Any]:
    active = (
        select(func.count())
        .where(webhook_secrets.c.tenant_id == tenants.c.id, webhook_secrets.c.retired_at.is_(None))
        .scalar_subquery()
    )
    return select(tenants.c.id, tenants.c.name, tenants.c.created_at, active.label("active")).order_by(
        tenants.c.created_at, tenants.c.id
    )


async def list_tenants(session: AsyncSession) -> list[TenantSummary]:
    rows = await session.execute(_tenant_summaries())
    return [TenantSummary(r.id, r.name, r.created_at, r.active) for r in rows]


async def get_tenant(session: AsyncSession, tenant_id: str) -> TenantSummary | None:
    row = (await session.execute(_tenant_summaries().where(tenants.c.id == tenant_id))).first()
    return TenantSummary(row.id, row.name, row.created_at, row.active) if row else None


async def any_tenant(session: AsyncSession) -> bool:
    return await session.scalar(select(tenants.c.id).limit(1)) is not None


async def require_tenant(session: AsyncSession, tenant_id: str) -> None:
    found = await session.scalar(select(tenants.c.id).where(tenants.c.id == tenant_id))
    if found is None:
        raise TenantNotFound(tenant_id)


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    key_id: str
    token: str


async def issue_api_key(
    session: AsyncSession, tenant_id: str, *, scopes: tuple[str, ...], label: str = ""
) -> IssuedApiKey:
    """A new key for the tenant: the token is returned here once and stored only as a hash."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {SCOPES}, got {scopes}")
    key_id = _new_id("key")
    # The key names its id, so a leaked key is identifiable (and revocable) at a glance.
    token = f"{key_prefix(key_id)}_{secrets.token_urlsafe(32)}"
    await session.execute(
        api_keys.insert().values(
            id=key_id,
            tenant_id=tenant_id,
            token_hash=hash_token(token),
            scopes=[s for s in SCOPES if s in scopes],
            label=label,
        )
    )
    return IssuedApiKey(key_id, token)


def key_prefix(key_id: str) -> str:
    """The public start of a key's token (``dk_`` + the id's hex): how a key is recognized."""
    return API_KEY_PREFIX + key_id.removeprefix("key_")


async def create_api_key(
    session: AsyncSession, tenant_id: str, *, scopes: tuple[str, ...], label: str = ""
) -> str:
    return (await issue_api_key(session, tenant_id, scopes=scopes, label=label)).token


async def authenticate(session: AsyncSession, token: str) -> Principal | None:
    row = (
        await session.execute(
            select(api_keys.c.id, api_keys.c.tenant_id, api_keys.c.scopes).where(
                api_keys.c.token_hash == hash_token(token), api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return Principal(tenant_id=row.tenant_id, key_id=row.id, scopes=frozenset(row.scopes))


async def add_webhook_secret(
    session: AsyncSession, box: SecretBox, tenant_id: str, provider: str, secret: str | None = None
) -> tuple[str, str]:
    """Add an active secret (rotation keeps the old one active until it is retired)."""
    await require_tenant(session, tenant_id)
    value = secret or new_stripe_webhook_secret()
    if len(value) < 16:
        raise ValueError("a webhook secret must be at least 16 characters")
    secret_id = _new_id("whs")
    await session.execute(
        webhook_secrets.insert().values(
            id=secret_id, tenant_id=tenant_id, provider=provider, sealed_secret=box.seal(value)
        )
    )
    return secret_id, value


async def retire_webhook_secret(session: AsyncSession, tenant_id: str, secret_id: str) -> bool:
    result = await session.execute(
        update(webhook_secrets)
        .where(
            webhook_secrets.c.id == secret_id,
            webhook_secrets.c.tenant_id == tenant_id,
            webhook_secrets.c.retired_at.is_(None),
        )
        .values(retired_at=func.now())
        .returning(webhook_secrets.c.id)
    )
    return result.first() is not None


async def list_webhook_secrets(session: AsyncSession, tenant_id: str) -> list[WebhookSecretInfo]:
    await require_tenant(session, tenant_id)
    rows = await session.execute(
        select(webhook_secrets)
        .where(webhook_secrets.c.tenant_id == tenant_id)
        .order_by(webhook_secrets.c.created_at, webhook_secrets.c.id)
    )
    return [WebhookSecretInfo(r.id, r.provider, r.created_at, r.retired_at) for r in rows]


async def webhook_secret_page(
    session: AsyncSession, tenant_id: str, *, after: tuple[datetime, str] | None = None, limit: int = 50
) -> list[WebhookSecretInfo]:
    """Newest first, retired ones included (with ``retired_at``)."""
    query = select(webhook_secrets).where(webhook_secrets.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(before(webhook_secrets.c.created_at, webhook_secrets.c.id, after))
    query = query.order_by(webhook_secrets.c.created_at.desc(), webhook_secrets.c.id.desc()).limit(limit)
    return [
        WebhookSecretInfo(r.id, r.provider, r.created_at, r.retired_at) for r in await session.execute(query)
    ]


async def webhook_secret_info(
    session: AsyncSession, tenant_id: str, secret_id: str
) -> WebhookSecretInfo | None:
    row = (
        await session.execute(
            select(webhook_secrets).where(
                webhook_secrets.c.id == secret_id, webhook_secrets.c.tenant_id == tenant_id
            )
        )
    ).first()
    return WebhookSecretInfo(row.id, row.provider, row.created_at, row.retired_at) if row else None


async def active_webhook_secrets(
    session: AsyncSession, box: SecretBox, tenant_id: str, provider: str
) -> list[str] | None:
    """The tenant's active secrets for ``provider``; None when the tenant does not exist."""
    rows = (
        await session.execute(
            select(tenants.c.id, webhook_secrets.c.sealed_secret)
            .select_from(
                tenants.outerjoin(
                    webhook_secrets,
                    (webhook_secrets.c.tenant_id == tenants.c.id)
                    & (webhook_secrets.c.provider == provider)
                    & webhook_secrets.c.retired_at.is_(None),
                )
            )
            .where(tenants.c.id == tenant_id)
        )
    ).all()
    if not rows:
        return None
    return [box.open(bytes(r.sealed_secret)) for r in rows if r.sealed_secret is not None]


async def reseal_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Seal every stored secret (webhook secrets, processor keys) again with the primary key."""
    count = 0
    for table, column, key in (
        (webhook_secrets, webhook_secrets.c.sealed_secret, (webhook_secrets.c.id,)),
        (
            processor_credentials,
            processor_credentials.c.sealed_api_key,
            (processor_credentials.c.tenant_id, processor_credentials.c.provider),
        ),
    ):
        rows = (await session.execute(select(*key, column).with_for_update())).all()
        for row in rows:
            where = [c == row._mapping[c] for c in key]
            await session.execute(
                update(table).where(*where).values({column.name: box.reseal(bytes(row._mapping[column]))})
            )
        count += len(rows)
    return count


@dataclass(frozen=True, slots=True)
class ProcessorKeyInfo:
    """What may be shown of a stored processor key: never the key."""

    provider: str
    key_hint: str
    livemode: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProcessorCredentials:
    tenant_id: str
    provider: str
    api_key: str
    livemode: bool


def _stripe_key_facts(api_key: str) -> tuple[bool, str]:
    # Secret (sk_) and restricted (rk_) keys; publishable keys (pk_) cannot charge.
    for prefix, live in (("sk_live_", True), ("rk_live_", True), ("sk_test_", False), ("rk_test_", False)):
        if api_key.startswith(prefix) and len(api_key) > len(prefix) + 8:
            return live, f"{prefix}…{api_key[-4:]}"
    raise ValueError("a Stripe API key starts with sk_live_, sk_test_, rk_live_ or rk_test_")


async def set_processor_key(
    session: AsyncSession, box: SecretBox, tenant_id: str, provider: str, api_key: str
) -> str:
    """Store (or replace) the tenant's processor key, sealed; returns a hint safe to show."""
    await require_tenant(session, tenant_id)
    if provider != "stripe":
        raise ValueError(f"no processor named {provider!r}")
    livemode, hint = _stripe_key_facts(api_key.strip())
    statement = insert(processor_credentials).values(
        tenant_id=tenant_id,
        provider=provider,
        sealed_api_key=box.seal(api_key.strip()),
        livemode=livemode,
        key_hint=hint,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[processor_credentials.c.tenant_id, processor_credentials.c.provider],
            set_={
                "sealed_api_key": statement.excluded.sealed_api_key,
                "livemode": statement.excluded.livemode,
                "key_hint": statement.excluded.key_hint,
                "updated_at": func.now(),
            },
        )
    )
    return hint


async def processor_credentials_for(
    session: AsyncSession, box: SecretBox, tenant_id: str, provider: str
) -> ProcessorCredentials | None:
    row = (
        await session.execute(
            select(processor_credentials).where(
                processor_credentials.c.tenant_id == tenant_id, processor_credentials.c.provider == provider
            )
        )
    ).first()
    if row is None:
        return None
    return ProcessorCredentials(tenant_id, provider, box.open(bytes(row.sealed_api_key)), row.livemode)


async def processor_key_info(session: AsyncSession, tenant_id: str, provider: str) -> ProcessorKeyInfo | None:
    row = (
        await session.execute(
            select(processor_credentials).where(
                processor_credentials.c.tenant_id == tenant_id, processor_credentials.c.provider == provider
            )
        )
    ).first()
    return ProcessorKeyInfo(provider, row.key_hint, row.livemode, row.updated_at) if row else None
