"""Export the OpenAPI document ``dunning run`` serves: ``python -m dunning.cli.openapi docs/openapi.json``.

The file is checked in; a test regenerates it and fails on any difference (drift).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from pydantic import SecretStr

from dunning.cli.settings import SystemSettings
from dunning.common.crypto import SecretBox
from dunning.common.db import Database
from dunning.common.health import Health


def system_openapi() -> dict[str, Any]:
    """The document of the all-in-one app, built without connecting to anything."""
    from dunning.cli.system import build_system_app

    key = Fernet.generate_key().decode()
    # Fixed values: nothing of this machine's environment may leak into the checked-in file.
    settings = SystemSettings.model_construct(
        **{**SystemSettings.model_construct().model_dump(), "secret_key": SecretStr(key)}
    )
    db = Database("postgresql://unused@localhost/unused")  # an engine that never connects
    app = build_system_app(settings, db, SecretBox(key), Health())
    return app.openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(system_openapi()))
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi.json")))  # noqa: T201 - a tool's output
