"""The first start of ``dunning run``: a ``local`` tenant with an admin API key in a 0600 file.

Only when the database holds no tenant at all, so an installation that already has tenants
(or whose local key was revoked) is never given a new key behind its operator's back.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.tenancy import service

ADMIN_KEY_FILE = "admin.key"
LOCAL_TENANT_NAME = "local"


@dataclass(frozen=True, slots=True)
class LocalAdmin:
    path: Path
    created: bool
    # The key's tenant when the file's key authenticates; None when it is revoked or unknown.
    tenant_id: str | None


async def ensure_local_admin_key(db: Database, box: SecretBox, data_dir: Path) -> LocalAdmin | None:
    """Create the local tenant and its key file on an empty database; else report on the file."""
    path = data_dir / ADMIN_KEY_FILE
    async with db.unit_of_work() as uow:
        # Two runs starting on one (external) database: only one of them sees it empty.
        await uow.session.execute(text("LOCK TABLE tenancy.tenants IN SHARE ROW EXCLUSIVE MODE"))
        if not await service.any_tenant(uow.session):
            created = await service.create_tenant(uow.session, box, LOCAL_TENANT_NAME)
            # The file first: committing a key that was never written down would lock us out,
            # while a file whose transaction fails is replaced at the next start.
            write_private(path, created.api_key + "\n")
            await uow.commit()
            return LocalAdmin(path, created=True, tenant_id=created.tenant_id)
    if not path.exists():
        return None
    async with db.unit_of_work() as uow:
        principal = await service.authenticate(uow.session, path.read_text().strip())
    return LocalAdmin(path, created=False, tenant_id=principal.tenant_id if principal else None)


def write_private(path: Path, content: str) -> None:
    """Write readable by the owner only (0600), atomically: no reader sees half a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
