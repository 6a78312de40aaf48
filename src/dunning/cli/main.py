"""``dunning``: run the system, serve one role, migrate, manage tenants."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from dunning.cli.settings import SystemSettings, tool_settings
from dunning.cli.simulate import simulate
from dunning.common.crypto import InvalidSecretKey, SecretBox
from dunning.common.db import Database
from dunning.common.logging import configure_logging
from dunning.common.settings import MissingSettings
from dunning.common.tenancy import service as tenancy

app = typer.Typer(help="Dunning: self-hosted failed-payment recovery.", no_args_is_help=True)
tenants_app = typer.Typer(help="Create and inspect tenants.", no_args_is_help=True)
secrets_app = typer.Typer(
    help="Webhook signing secrets of a tenant (several may be active).", no_args_is_help=True
)
tenants_app.add_typer(secrets_app, name="secrets")
app.add_typer(tenants_app, name="tenants")
dlq_app = typer.Typer(help="Inspect and replay dead-lettered records.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
# The simulator (and matplotlib) is imported only when the command runs.
app.command(name="simulate")(simulate)

T = TypeVar("T")


class Role(StrEnum):
    ingest = "ingest"
    relay = "relay"
    retry = "retry"
    notify = "notify"


@app.command()
def run() -> None:
    """Start the whole system: embedded PostgreSQL and broker unless DUNNING_DATABASE_URL/_KAFKA_BOOTSTRAP."""
    from dunning.cli.system import run as run_system

    settings = SystemSettings()
    configure_logging(settings.log_level, json=settings.log_json)
    run_system(settings)


@app.command()
def serve(role: Annotated[Role, typer.Argument(help="Which role this process plays.")]) -> None:
    """Run one role against external PostgreSQL and Kafka (production)."""
    from dunning.cli.roles import serve_role

    settings = SystemSettings()
    configure_logging(settings.log_level, json=settings.log_json)
    try:
        serve_role(role.value, settings)
    except (MissingSettings, InvalidSecretKey) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Bring every schema to the latest revision (idempotent; safe to run from several places)."""
    from dunning.cli.system import MIGRATION_SETS
    from dunning.common.migrations import upgrade

    settings = tool_settings("database_url")

    async def go() -> None:
        db = Database(settings.require_database_url())
        try:
            await upgrade(db, MIGRATION_SETS)
        finally:
            await db.dispose()

    asyncio.run(go())
    typer.echo("migrated: " + ", ".join(m.schema for m in MIGRATION_SETS))


@app.command()
def openapi(
    path: Annotated[str, typer.Argument(help="Where to write it; '-' prints it.")] = "docs/openapi.json",
) -> None:
    """Write the OpenAPI document `dunning run` serves at /openapi.json (every slice)."""
    from pathlib import Path

    from dunning.cli.openapi import render, system_openapi, write

    if path == "-":
        typer.echo(render(system_openapi()), nl=False)
        return
    typer.echo(str(write(Path(path))))


def _with_session(action: Callable[[AsyncSession, SecretBox], Awaitable[T]]) -> T:
    settings = tool_settings("database_url", "secret_key")
    box = SecretBox(settings.require_secret_key())

    async def go() -> T:
        db = Database(settings.require_database_url(), pool_size=1)
        try:
            async with db.unit_of_work() as uow:
                result = await action(uow.session, box)
                await uow.commit()
                return result
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except (tenancy.TenantNotFound, ValueError) as exc:
        typer.echo(
            f"error: {exc if not isinstance(exc, tenancy.TenantNotFound) else f'no tenant {exc}'}",
            err=True,
        )
        raise typer.Exit(1) from None


@tenants_app.command("create")
def tenants_create(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    stripe_webhook_secret: Annotated[
        str | None,
        typer.Option(help="Stripe's signing secret (whsec_...); one is generated if omitted."),
    ] = None,
    stripe_api_key: Annotated[
        str | None, typer.Option(help="The Stripe secret or restricted key to charge with ('-': read stdin).")
    ] = None,
) -> None:
    """Create a tenant; prints its API key once (it is stored hashed) and its webhook secret."""
    api_key = _read_secret(stripe_api_key)

    async def create(session: AsyncSession, box: SecretBox) -> tenancy.CreatedTenant:
        created = await tenancy.create_tenant(session, box, name, stripe_webhook_secret=stripe_webhook_secret)
        if api_key is not None:
            await tenancy.set_processor_key(session, box, created.tenant_id, "stripe", api_key)
        return created

    created = _with_session(create)
    result = {
        "tenant_id": created.tenant_id,
        "name": created.name,
        "api_key": created.api_key,
        "stripe_webhook_secret": created.stripe_webhook_secret,
    }
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:22} {value}")
    typer.echo("The API key is shown only now: store it.")


@tenants_app.command("list")
def tenants_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tenants."""
    rows = _with_session(lambda s, _box: tenancy.list_tenants(s))
    items = [
        {
            "tenant_id": r.tenant_id,
            "name": r.name,
            "created_at": r.created_at.isoformat(),
            "active_webhook_secrets": r.active_webhook_secrets,
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(items))
        return
    for item in items:
        secrets = item["active_webhook_secrets"]
        typer.echo(f"{item['tenant_id']}  {item['name']}  secrets={secrets}  {item['created_at']}")


@secrets_app.command("add")
def secrets_add(
    tenant_id: str,
    secret: Annotated[
        str | None, typer.Option(help="The processor's signing secret; generated if omitted.")
    ] = None,
    provider: Annotated[str, typer.Option(help="Processor name.")] = "stripe",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add an active webhook secret (old ones stay active until retired: zero-downtime rotation)."""
    from dunning.ingest.processors import PROCESSORS

    if provider not in PROCESSORS:
        typer.echo(
            f"error: no processor named {provider!r} (known: {', '.join(sorted(PROCESSORS))})", err=True
        )
        raise typer.Exit(1)
    secret_id, value = _with_session(
        lambda s, box: tenancy.add_webhook_secret(s, box, tenant_id, provider, secret)
    )
    if as_json:
        typer.echo(json.dumps({"secret_id": secret_id, "secret": value}))
    else:
        typer.echo(f"{secret_id}  {value}")


@tenants_app.command("set-stripe-key")
def tenants_set_stripe_key(
    tenant_id: str,
    api_key: Annotated[
        str,
        typer.Argument(
            help="sk_live_/sk_test_/rk_... key, or '-' to read it from stdin (keeps it out of ps)"
        ),
    ] = "-",
) -> None:
    """Set or replace the Stripe key the retry service charges with (stored sealed)."""
    key = _read_secret(api_key)
    assert key is not None
    hint = _with_session(lambda s, box: tenancy.set_processor_key(s, box, tenant_id, "stripe", key))
    typer.echo(f"stripe key set for {tenant_id}: {hint}")


def _read_secret(value: str | None) -> str | None:
    if value == "-":
        return sys.stdin.readline().strip()
    return value


async def _reseal_all(session: AsyncSession, box: SecretBox) -> int:
    # Every sealed secret lives in one of these: tenancy (webhook secrets, processor keys) and
    # notify (the platform's and the agency's webhook signing secrets).
    from dunning.notify.repository import reseal_endpoint_secrets

    return await tenancy.reseal_secrets(session, box) + await reseal_endpoint_secrets(session, box)


@tenants_app.command("reseal-secrets")
def tenants_reseal_secrets() -> None:
    """Seal all stored secrets with the first DUNNING_SECRET_KEY (then older keys can go)."""
    count = _with_session(lambda s, box: _reseal_all(s, box))
    typer.echo(f"resealed {count} secret(s)")


@secrets_app.command("retire")
def secrets_retire(tenant_id: str, secret_id: str) -> None:
    """Stop accepting webhooks signed with this secret."""
    retired = _with_session(lambda s, _box: tenancy.retire_webhook_secret(s, tenant_id, secret_id))
    if not retired:
        typer.echo(f"error: no active secret {secret_id} for tenant {tenant_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"retired {secret_id}")


@secrets_app.command("list")
def secrets_list(tenant_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List a tenant's webhook secrets (ids and dates; never the secrets)."""
    rows = _with_session(lambda s, _box: tenancy.list_webhook_secrets(s, tenant_id))
    items = [
        {
            "secret_id": r.secret_id,
            "provider": r.provider,
            "created_at": r.created_at.isoformat(),
            "retired_at": r.retired_at.isoformat() if r.retired_at else None,
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(items))
        return
    for item in items:
        state = f"retired {item['retired_at']}" if item["retired_at"] else "active"
        typer.echo(f"{item['secret_id']}  {item['provider']}  {state}  created {item['created_at']}")


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str, typer.Argument(help="A topic (its .dlq is read) or a .dlq topic.")],
    limit: Annotated[int, typer.Option(min=1, help="At most this many records.")] = 100,
) -> None:
    """Print dead letters as JSON lines: where they came from, why they failed, the record."""
    from dunning.common.dlq import peek

    settings = tool_settings("kafka_bootstrap")
    for letter in asyncio.run(peek(settings.require_kafka_bootstrap(), topic, limit=limit)):
        typer.echo(
            json.dumps(
                {
                    "partition": letter.partition,
                    "offset": letter.offset,
                    "key": letter.key.decode("utf-8", "replace") if letter.key else None,
                    "headers": letter.headers,
                    "value": letter.value.decode("utf-8", "replace"),
                }
            )
        )


@dlq_app.command("replay")
def dlq_replay(
    topic: Annotated[str, typer.Argument(help="A topic (its .dlq is replayed) or a .dlq topic.")],
    limit: Annotated[int | None, typer.Option(min=1, help="Replay at most this many.")] = None,
) -> None:
    """Put dead letters back on their original topic (after fixing what made them fail)."""
    from dunning.common.dlq import replay
    from dunning.common.kafka import make_producer

    settings = tool_settings("kafka_bootstrap")
    bootstrap = settings.require_kafka_bootstrap()

    async def go() -> int:
        producer = make_producer(
            bootstrap, enable_idempotence=settings.kafka_enable_idempotence, client_id="dunning-dlq"
        )
        await producer.start()
        try:
            return await replay(bootstrap, topic, producer, limit=limit)
        finally:
            await producer.stop()

    typer.echo(f"replayed {asyncio.run(go())} record(s)")
