"""Settings of the whole system, and how CLI tools find a running embedded instance."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from dunning.common.crypto import load_or_create_key
from dunning.ingest.settings import IngestSettings

RUNTIME_FILE = "runtime.json"
SECRET_KEY_FILE = "secret.key"


class SystemSettings(IngestSettings):
    """Everything every service reads, plus where the all-in-one runner listens."""

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)


def runtime_path(data_dir: Path) -> Path:
    return data_dir / RUNTIME_FILE


def read_runtime(data_dir: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads(runtime_path(data_dir).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return loaded


def write_runtime(data_dir: Path, runtime: dict[str, Any]) -> None:
    path = runtime_path(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(runtime, indent=2) + "\n")
    os.replace(tmp, path)  # readers never see half a file


def tool_settings() -> SystemSettings:
    """Settings for a CLI tool: the environment first, else the running ``dunning run``."""
    base = SystemSettings(embedded=True)
    overrides: dict[str, Any] = {}
    runtime = read_runtime(base.data_dir)
    if base.database_url is None:
        if runtime is None:
            raise SystemExit(
                f"no database: set DUNNING_DATABASE_URL, or start `dunning run` "
                f"(looked for {runtime_path(base.data_dir)})"
            )
        overrides["database_url"] = runtime["database_url"]
    if base.kafka_bootstrap is None and runtime is not None:
        overrides["kafka_bootstrap"] = runtime["kafka_bootstrap"]
    if base.secret_key is None:
        key_file = base.data_dir / SECRET_KEY_FILE
        if not key_file.exists():
            # Making a key here would seal secrets that the services could never open.
            raise SystemExit(f"no secret key: set DUNNING_SECRET_KEY (no {key_file} either)")
        overrides["secret_key"] = SecretStr(load_or_create_key(key_file))
    return base.model_copy(update=overrides) if overrides else base
