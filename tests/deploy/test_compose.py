"""docker-compose.yml against the Compose Specification schema, and the start-up order it promises.

Nothing here runs Docker: what the schema and these reads cannot see (an image that does not
start, a broker setting Kafka rejects) only `docker compose up` shows.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from tests.deploy.manifests import ROOT, SCHEMAS

ONE_SHOT = {"kafka-topics", "migrate"}
ROLES = {"ingest", "relay", "retry", "notify"}


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(compose)


def test_the_schema_is_not_vacuous(compose: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    broken = {**compose, "services": {**compose["services"], "ingest": {"image": "x", "depends_on": 3}}}
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        image = svc["image"]
        if "build" in svc:
            continue  # the project's own image, built here
        _, _, tag = image.rpartition(":")
        assert tag, f"{name}: pin {image}"
        assert tag != "latest", f"{name}: pin {image}"
        assert "/" not in tag, f"{name}: pin {image}"
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", compose["services"]["kafka"]["image"])


def test_every_long_running_service_has_a_healthcheck_and_one_shots_do_not_restart(
    compose: dict[str, Any],
) -> None:
    assert ONE_SHOT | ROLES | {"postgres", "kafka", "mailpit"} == set(compose["services"])
    for name, svc in compose["services"].items():
        if name in ONE_SHOT:
            assert svc["restart"] == "no"
        else:
            check = svc["healthcheck"]
            assert not check.get("disable"), f"{name} has no healthcheck"
            assert check["test"], f"{name} has no healthcheck"


def test_roles_start_after_healthy_infrastructure_topics_and_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for role in ROLES:
        depends = services[role]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["kafka-topics"]["condition"] == "service_completed_successfully"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["kafka-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["notify"]["depends_on"]["mailpit"]["condition"] == "service_healthy"
    assert services["notify"]["environment"]["DUNNING_SMTP_URL"] == "smtp://mailpit:1025"


def test_required_secrets_fail_loudly_and_env_example_documents_every_variable(
    compose: dict[str, Any],
) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert {"POSTGRES_PASSWORD", "DUNNING_SECRET_KEY"} <= required
    assert not re.search(r"\$\{(POSTGRES_PASSWORD|DUNNING_SECRET_KEY)(:-|\})", text), "a default secret"
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )
    example = (ROOT / ".env.example").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    documented = set(re.findall(r"^#?\s*(\w+)=", example, re.M))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    assert "Fernet.generate_key()" in example
    # Secrets in the example are blank: nobody runs with a published key.
    assert re.search(r"^DUNNING_SECRET_KEY=$", example, re.M)
    assert re.search(r"^POSTGRES_PASSWORD=$", example, re.M)
