"""`dunning run`'s first start: a local tenant and its admin key in a file only its owner reads."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from tests.integration.conftest import make_tenant

from dunning.cli.local_admin import ensure_local_admin_key
from dunning.cli.system import print_welcome
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.tenancy.keys import list_api_keys
from dunning.common.tenancy.service import authenticate, list_tenants

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


async def test_an_empty_database_gets_a_local_tenant_whose_admin_key_is_in_a_0600_file(
    clean_db: Database, box: SecretBox, tmp_path: Path
) -> None:
    local = await ensure_local_admin_key(clean_db, box, tmp_path)
    assert local is not None
    assert local.created
    assert local.path == tmp_path / "admin.key"
    assert stat.S_IMODE(local.path.stat().st_mode) == 0o600
    async with clean_db.unit_of_work() as uow:
        principal = await authenticate(uow.session, local.path.read_text().strip())
        tenants = await list_tenants(uow.session)
    assert principal is not None
    assert principal.scopes == {"read", "write", "admin"}
    assert [(t.tenant_id, t.name) for t in tenants] == [(principal.tenant_id, "local")]
    assert local.tenant_id == principal.tenant_id


async def test_later_starts_keep_the_key_and_make_no_other(
    clean_db: Database, box: SecretBox, tmp_path: Path
) -> None:
    first = await ensure_local_admin_key(clean_db, box, tmp_path)
    assert first is not None
    key = first.path.read_text()
    again = await ensure_local_admin_key(clean_db, box, tmp_path)
    assert again is not None
    assert (again.created, again.tenant_id) == (False, first.tenant_id)
    assert first.path.read_text() == key
    async with clean_db.unit_of_work() as uow:
        assert len(await list_tenants(uow.session)) == 1
        assert first.tenant_id is not None
        assert len(await list_api_keys(uow.session, first.tenant_id)) == 1


async def test_an_installation_with_tenants_gets_no_local_key(
    clean_db: Database, box: SecretBox, tmp_path: Path
) -> None:
    await make_tenant(clean_db, box, name="Acme")
    assert await ensure_local_admin_key(clean_db, box, tmp_path) is None
    assert not (tmp_path / "admin.key").exists()


async def test_a_revoked_local_key_is_reported_not_replaced(
    clean_db: Database, box: SecretBox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dunning.cli.settings import SystemSettings

    await make_tenant(clean_db, box, name="Acme")
    (tmp_path / "admin.key").write_text("dk_0000000000000000_revoked\n")
    local = await ensure_local_admin_key(clean_db, box, tmp_path)
    assert local is not None
    assert (local.created, local.tenant_id) == (False, None)
    print_welcome(SystemSettings(data_dir=tmp_path), "http://127.0.0.1:8080", local)
    out = capsys.readouterr().out
    assert f"The API key in {tmp_path / 'admin.key'} is revoked" in out
    assert "dunning tenants create" in out


async def test_the_welcome_says_where_the_key_is_and_how_to_use_it(
    clean_db: Database, box: SecretBox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dunning.cli.settings import SystemSettings

    local = await ensure_local_admin_key(clean_db, box, tmp_path)
    assert local is not None
    print_welcome(SystemSettings(data_dir=tmp_path), "http://127.0.0.1:8080", local)
    out = capsys.readouterr().out
    key_file = (tmp_path / "admin.key").resolve()
    assert f"Local tenant {local.tenant_id} (created now); its admin API key is in {key_file}" in out
    assert f'curl -H "Authorization: Bearer $(cat {key_file})" http://127.0.0.1:8080/v1/tenant' in out
    assert f"http://127.0.0.1:8080/v1/webhooks/stripe/{local.tenant_id}" in out
    assert local.path.read_text().strip() not in out  # the key itself is never printed
