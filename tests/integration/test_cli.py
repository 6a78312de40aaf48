"""`dunning tenants ...` against real PostgreSQL, as an operator would run it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import Infra

from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.embedded import free_port
from dunning.common.tenancy.service import authenticate, processor_credentials_for
from dunning.common.tenancy.tables import processor_credentials, webhook_secrets

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def dunning(
    infra: Infra, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> tuple[int, str, str]:
    environment = env or {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_SECRET_KEY": infra.secret_key,
        "DUNNING_DATA_DIR": str(infra.work_dir / "cli-data"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dunning.cli",
        *args,
        env=environment,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_create_prints_a_working_api_key_once_and_seals_the_webhook_secret(
    infra: Infra, clean_db: Database, box: SecretBox
) -> None:
    code, out, err = await dunning(infra, "tenants", "create", "Acme Inc", "--json")
    assert code == 0, err
    created = json.loads(out)
    assert created["name"] == "Acme Inc"
    assert created["stripe_webhook_secret"].startswith("whsec_")
    async with clean_db.unit_of_work() as uow:
        principal = await authenticate(uow.session, created["api_key"])
        assert principal is not None
        assert principal.tenant_id == created["tenant_id"]
        assert principal.scopes == {"read", "write", "admin"}
        assert await authenticate(uow.session, created["api_key"] + "x") is None
        sealed = (await uow.session.execute(select(webhook_secrets.c.sealed_secret))).scalar_one()
    assert created["stripe_webhook_secret"].encode() not in sealed
    assert box.open(sealed) == created["stripe_webhook_secret"]


@pytest.mark.usefixtures("clean_db")
async def test_create_takes_stripes_own_secret(infra: Infra) -> None:
    secret = "whsec_" + "s" * 40
    code, out, _ = await dunning(
        infra, "tenants", "create", "Globex", "--json", "--stripe-webhook-secret", secret
    )
    assert code == 0
    assert json.loads(out)["stripe_webhook_secret"] == secret


@pytest.mark.usefixtures("clean_db")
async def test_secret_rotation_commands(infra: Infra) -> None:
    _, out, _ = await dunning(infra, "tenants", "create", "Initech", "--json")
    tenant_id = json.loads(out)["tenant_id"]

    code, out, _ = await dunning(
        infra, "tenants", "secrets", "add", tenant_id, "--secret", "whsec_" + "n" * 40, "--json"
    )
    assert code == 0
    added = json.loads(out)
    code, out, _ = await dunning(infra, "tenants", "secrets", "list", tenant_id, "--json")
    listed = json.loads(out)
    assert len(listed) == 2
    assert all("secret" not in item for item in listed)  # ids and dates, never the secret
    assert added["secret_id"] in {i["secret_id"] for i in listed}

    old_id = next(i["secret_id"] for i in listed if i["secret_id"] != added["secret_id"])
    code, out, _ = await dunning(infra, "tenants", "secrets", "retire", tenant_id, old_id)
    assert code == 0
    code, out, _ = await dunning(infra, "tenants", "secrets", "list", tenant_id, "--json")
    states = {i["secret_id"]: i["retired_at"] is not None for i in json.loads(out)}
    assert states == {old_id: True, added["secret_id"]: False}

    code, _, err = await dunning(infra, "tenants", "secrets", "retire", tenant_id, old_id)
    assert code == 1
    assert "no active secret" in err
    _, out, _ = await dunning(infra, "tenants", "list", "--json")
    assert [t["active_webhook_secrets"] for t in json.loads(out)] == [1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tenants", "secrets", "list", "ten_missing"), "no tenant"),
        (("tenants", "secrets", "add", "ten_missing"), "no tenant"),
        (("tenants", "create", "   "), "needs a name"),
        (("tenants", "secrets", "add", "ten_missing", "--secret", "short"), "no tenant"),
    ],
)
@pytest.mark.usefixtures("clean_db")
async def test_mistakes_exit_1_with_a_clear_message(
    infra: Infra, args: tuple[str, ...], message: str
) -> None:
    code, _, err = await dunning(infra, *args)
    assert code == 1
    assert message in err


async def test_without_a_database_or_a_running_system_the_tool_says_what_to_do(
    infra: Infra, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
    env["DUNNING_DATA_DIR"] = str(tmp_path)
    code, _, err = await dunning(infra, "tenants", "list", env=env)
    assert code != 0
    assert "DUNNING_DATABASE_URL" in err
    assert "dunning run" in err


async def test_a_role_started_without_its_settings_names_them_and_exits_2(infra: Infra) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
    code, _, err = await dunning(infra, "serve", "relay", env=env)
    assert code == 2
    assert "DUNNING_DATABASE_URL, DUNNING_KAFKA_BOOTSTRAP" in err
    code, _, err = await dunning(infra, "serve", "ingest", env=env)
    assert code == 2
    assert "DUNNING_DATABASE_URL, DUNNING_SECRET_KEY" in err
    code, _, err = await dunning(infra, "serve", "notify", env=env)
    assert code == 2
    assert "DUNNING_DATABASE_URL, DUNNING_KAFKA_BOOTSTRAP, DUNNING_SECRET_KEY" in err


async def test_reseal_moves_every_secret_to_the_new_key(
    infra: Infra, clean_db: Database, box: SecretBox
) -> None:
    from cryptography.fernet import Fernet

    _, out, _ = await dunning(infra, "tenants", "create", "Umbrella", "--json")
    secret = json.loads(out)["stripe_webhook_secret"]
    new_key = Fernet.generate_key().decode()
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_SECRET_KEY": f"{new_key},{infra.secret_key}",
        "DUNNING_DATA_DIR": str(infra.work_dir / "cli-data"),
    }
    code, out, err = await dunning(infra, "tenants", "reseal-secrets", env=env)
    assert code == 0, err
    assert out.strip() == "resealed 1 secret(s)"
    async with clean_db.engine.connect() as conn:
        sealed = (await conn.execute(select(webhook_secrets.c.sealed_secret))).scalar_one()
    assert SecretBox(new_key).open(sealed) == secret
    with pytest.raises(ValueError, match="cannot be opened"):
        box.open(sealed)  # the old key alone no longer opens it

    # With a key list that cannot open what is stored: a clear error, and nothing changes.
    env["DUNNING_SECRET_KEY"] = Fernet.generate_key().decode()
    code, _, err = await dunning(infra, "tenants", "reseal-secrets", env=env)
    assert code == 1
    assert err.strip() == "error: a stored secret cannot be opened with DUNNING_SECRET_KEY"
    async with clean_db.engine.connect() as conn:
        assert (await conn.execute(select(webhook_secrets.c.sealed_secret))).scalar_one() == sealed


@pytest.mark.usefixtures("clean_db")
async def test_secrets_for_an_unknown_processor_are_refused(infra: Infra) -> None:
    _, out, _ = await dunning(infra, "tenants", "create", "Hooli", "--json")
    tenant_id = json.loads(out)["tenant_id"]
    code, _, err = await dunning(infra, "tenants", "secrets", "add", tenant_id, "--provider", "paypal")
    assert code == 1
    assert "no processor named 'paypal'" in err


async def test_stripe_keys_are_stored_sealed_and_shown_only_as_a_hint(
    infra: Infra, clean_db: Database, box: SecretBox
) -> None:
    key = "sk_test_" + "k" * 24 + "WXYZ"
    code, out, err = await dunning(infra, "tenants", "create", "Keyed", "--json", "--stripe-api-key", key)
    assert code == 0, err
    tenant_id = json.loads(out)["tenant_id"]
    async with clean_db.unit_of_work() as uow:
        stored = await processor_credentials_for(uow.session, box, tenant_id, "stripe")
        sealed = (await uow.session.execute(select(processor_credentials.c.sealed_api_key))).scalar_one()
    assert stored is not None
    assert (stored.api_key, stored.livemode) == (key, False)
    assert key.encode() not in sealed

    live = "rk_live_" + "r" * 24 + "ABCD"
    code, out, err = await dunning(infra, "tenants", "set-stripe-key", tenant_id, stdin=f"{live}\n".encode())
    assert code == 0, err
    assert out.strip() == f"stripe key set for {tenant_id}: rk_live_…ABCD"
    assert live not in out + err
    async with clean_db.unit_of_work() as uow:
        replaced = await processor_credentials_for(uow.session, box, tenant_id, "stripe")
    assert replaced is not None
    assert (replaced.api_key, replaced.livemode) == (live, True)

    code, _, err = await dunning(infra, "tenants", "set-stripe-key", tenant_id, "pk_test_publishable_key_x")
    assert code == 1
    assert "a Stripe API key starts with sk_live_, sk_test_, rk_live_ or rk_test_" in err


@pytest.mark.usefixtures("clean_db")
async def test_serve_retry_serves_its_own_api_slice(infra: Infra) -> None:
    _, out, _ = await dunning(infra, "tenants", "create", "Sliced", "--json")
    api_key = json.loads(out)["api_key"]
    port = free_port()
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_KAFKA_BOOTSTRAP": infra.bootstrap,
        "DUNNING_SECRET_KEY": infra.secret_key,
        "DUNNING_HTTP_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dunning.cli",
        "serve",
        "retry",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(200):
                try:
                    response = await http.get(
                        "/v1/retry-policy", headers={"Authorization": f"Bearer {api_key}"}
                    )
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert response.status_code == 200
            assert response.json()["mode"] == "observe"
            assert (await http.get("/v1/cases")).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0


@pytest.mark.usefixtures("clean_db")
async def test_serve_notify_serves_its_own_api_slice_and_drains_on_sigterm(
    infra: Infra, tmp_path: Path
) -> None:
    _, out, _ = await dunning(infra, "tenants", "create", "Notified", "--json")
    api_key = json.loads(out)["api_key"]
    port = free_port()
    env = {
        **os.environ,
        "DUNNING_DATABASE_URL": infra.database_url,
        "DUNNING_KAFKA_BOOTSTRAP": infra.bootstrap,
        "DUNNING_SECRET_KEY": infra.secret_key,
        "DUNNING_HTTP_PORT": str(port),
        "DUNNING_DATA_DIR": str(tmp_path),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dunning.cli",
        "serve",
        "notify",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(200):
                try:
                    response = await http.get("/v1/escalation-policy", headers=headers)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert response.status_code == 200
            assert response.json()["policies"]["default"]["levels"][0]["template"] == "friendly"
            assert (await http.get("/v1/mail", headers=headers)).json() == []
            assert (await http.get("/v1/cases", headers=headers)).status_code == 404  # retry's slice
            health = await http.get("/healthz")
            assert health.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
