"""Settings of the whole system, and how CLI tools find a running embedded instance."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dunning.common.crypto import load_or_create_key
from dunning.common.settings import MissingSettings
from dunning.ingest.settings import IngestSettings
from dunning.notify.settings import NotifySettings
from dunning.retry.settings import RetrySettings

RUNTIME_FILE = "runtime.json"
SECRET_KEY_FILE = "secret.key"


class SystemSettings(IngestSettings, RetrySettings, NotifySettings):
    """Everything every service reads: what the all-in-one runner and the CLI tools use."""


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


def tool_settings(*need: str) -> SystemSettings:
    """Settings for a CLI tool: the environment first, else the running ``dunning run``'s
    ``runtime.json`` and key file; exits with a clear message when ``need`` is not met."""
    base = SystemSettings()
    overrides: dict[str, Any] = {}
    runtime = read_runtime(base.data_dir)
    if runtime is not None:
        if base.database_url is None:
            overrides["database_url"] = runtime["database_url"]
        if base.kafka_bootstrap is None:
            overrides["kafka_bootstrap"] = runtime["kafka_bootstrap"]
    key_file = base.data_dir / SECRET_KEY_FILE
    # Only an existing key: making one here would seal secrets the services could never open.
    if base.secret_key is None and key_file.exists():
        overrides["secret_key"] = SecretStr(load_or_create_key(key_file))
    settings = base.model_copy(update=overrides) if overrides else base
    try:
        settings.require(*need)
    except MissingSettings as exc:
        raise SystemExit(
            f"{exc}: set them, or start `dunning run` (tools read {runtime_path(base.data_dir)})"
        ) from None
    return settings
