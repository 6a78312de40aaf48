"""Session fixtures of the deploy tests: each overlay is rendered once."""

from __future__ import annotations

from typing import Any

import pytest
from tests.deploy.manifests import OVERLAYS, ROOT, Manifest, load_yaml, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    return {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")
    return loaded
