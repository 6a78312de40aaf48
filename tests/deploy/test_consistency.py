"""The manifests and compose file agree with the code: settings, roles, paths, ports, groups, metrics."""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from prometheus_client import REGISTRY
from pydantic import SecretStr
from tests.deploy.manifests import (
    OVERLAYS,
    ROOT,
    Manifest,
    deployment_for_selector,
    env_names,
    named,
    of_kind,
    pod_specs,
    role_of,
)

import dunning.cli.roles as roles
import dunning.common.metrics
import dunning.ingest.metrics
import dunning.notify.metrics
import dunning.retry.metrics
from dunning.cli.main import Role
from dunning.cli.settings import SystemSettings
from dunning.common.events.topics import ALL_TOPICS, dlq_topic
from dunning.common.health import Health
from dunning.common.http import build_app
from dunning.common.settings import MissingSettings
from dunning.common.tenancy import api as tenancy_api
from dunning.ingest import app as ingest_app
from dunning.notify import app as notify_app
from dunning.notify.api import public_router
from dunning.retry import app as retry_app
from dunning.retry import selfservice

SETTINGS = {f"DUNNING_{name.upper()}" for name in SystemSettings.model_fields}
# Read without the prefix by `serve retry` and `serve notify` (static membership, worker ids).
EXTRA_ENV = {"POD_NAME"}
# Settings that carry credentials: only ever from a Secret (the database URL holds a password).
SECRET_SETTINGS = {
    f"DUNNING_{name.upper()}"
    for name, field in SystemSettings.model_fields.items()
    if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
} | {"DUNNING_DATABASE_URL"}
HTTP_PORT = SystemSettings.model_fields["http_port"].default
_dummy: Any = None
CONSUMERS = {
    "retry": retry_app.case_consumer(_dummy, "unused:9092", _dummy).config,
    "notify": notify_app.event_consumer(_dummy, "unused:9092", _dummy).config,
}
METRIC_MODULES = (
    dunning.common.metrics,
    dunning.ingest.metrics,
    dunning.retry.metrics,
    dunning.notify.metrics,
)


def _paths(routers: list[APIRouter]) -> set[str]:
    return {r.path for router in routers for r in router.routes if isinstance(r, APIRoute)}


# What each role's app mounts (cli/roles.py): retry and notify add the tenant-administration slice.
ROUTES_BY_ROLE = {
    "ingest": _paths(ingest_app.routers()),
    "retry": _paths([*retry_app.routers(), *tenancy_api.routers()]),
    "notify": _paths([*notify_app.routers(), *tenancy_api.routers()]),
}
PUBLIC_ROUTES = _paths([*ingest_app.routers(), public_router, selfservice.router])
INTERNAL_ROUTES = (ROUTES_BY_ROLE["retry"] | ROUTES_BY_ROLE["notify"]) - PUBLIC_ROUTES


def _required_by_role(role: str) -> set[str]:
    """What `dunning serve ROLE` refuses to start without, asked of the code itself."""

    def must_not_start(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(f"serve {role} started without its required settings")

    patch = pytest.MonkeyPatch()
    patch.setattr("dunning.cli.roles.uvicorn.run", must_not_start)
    patch.setattr("dunning.cli.roles.asyncio.run", must_not_start)
    try:
        with pytest.raises(MissingSettings) as missing:
            roles.serve_role(role, SystemSettings.model_construct())
    finally:
        patch.undo()
    return set(re.findall(r"DUNNING_[A-Z_]+", str(missing.value)))


def _matches(ingress_path: str, path_type: str, route: str) -> bool:
    if path_type == "Exact":
        return route == ingress_path
    return route == ingress_path or route.startswith(ingress_path.rstrip("/") + "/")


def _containers(objects: list[Manifest]) -> list[tuple[Manifest, Manifest]]:
    return [(owner, c) for owner, spec in pod_specs(objects) for c in spec["containers"]]


def _dunning_services(compose: dict[str, Any]) -> dict[str, Any]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def test_the_setting_names_are_derived_from_the_code() -> None:
    # Guards the derivations below against silently becoming empty.
    assert {"DUNNING_DATABASE_URL", "DUNNING_SECRET_KEY", "DUNNING_SMTP_URL"} <= SETTINGS
    assert {"DUNNING_SECRET_KEY", "DUNNING_SMTP_URL", "DUNNING_SMS_AUTH_TOKEN"} <= SECRET_SETTINGS
    assert _required_by_role("ingest") == {"DUNNING_DATABASE_URL", "DUNNING_SECRET_KEY"}
    assert PUBLIC_ROUTES
    assert INTERNAL_ROUTES


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_in_the_manifests_is_a_real_setting(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    for owner, container in _containers(objects):
        unknown = env_names(objects, container) - SETTINGS - EXTRA_ENV
        assert not unknown, f"{owner['metadata']['name']}: not settings: {sorted(unknown)}"
    for config in of_kind(objects, "ConfigMap"):
        # The values must also parse as the settings they claim to be (ints, bools, ...).
        fields = {key.removeprefix("DUNNING_").lower(): value for key, value in config["data"].items()}
        SystemSettings.model_validate(fields)


def test_every_variable_in_compose_is_a_real_setting(compose: dict[str, Any]) -> None:
    services = _dunning_services(compose)
    assert set(services) == {"migrate", "ingest", "relay", "retry", "notify"}
    for name, svc in services.items():
        unknown = set(svc["environment"]) - SETTINGS - EXTRA_ENV
        assert not unknown, f"compose {name}: not settings: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_role_gets_every_setting_it_requires(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    for deployment in of_kind(objects, "Deployment"):
        role = role_of(deployment)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        missing = _required_by_role(role) - env_names(objects, container)
        assert not missing, f"{deployment['metadata']['name']} lacks {sorted(missing)}"
    job = named(objects, "Job", "dunning-migrate")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["args"] == ["migrate"]
    # `dunning migrate` asks tool_settings("database_url") (cli/main.py).
    assert "DUNNING_DATABASE_URL" in env_names(objects, migrate)


def test_each_compose_role_gets_every_setting_it_requires(compose: dict[str, Any]) -> None:
    for name, svc in _dunning_services(compose).items():
        command = svc["command"]
        if command == ["migrate"]:
            continue
        assert command[0] == "serve"
        missing = _required_by_role(command[1]) - set(svc["environment"])
        assert not missing, f"compose {name} lacks {sorted(missing)}"
        # Required secrets must fail loudly when unset, not start with an empty value.
        assert ":?" in svc["environment"]["DUNNING_SECRET_KEY"]
        assert ":?" in svc["environment"]["DUNNING_DATABASE_URL"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_credentials_come_only_from_secret_references(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    for config in of_kind(objects, "ConfigMap"):
        assert not set(config["data"]) & SECRET_SETTINGS, "a credential in a ConfigMap"
    for owner, container in _containers(objects):
        for env in container.get("env", []):
            if env["name"] in SECRET_SETTINGS:
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                assert "value" not in env, f"{owner['metadata']['name']}: {env['name']}"
                assert ref is not None, f"{owner['metadata']['name']}: {env['name']}"
                assert ref["name"] == "dunning-secrets"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_roles_ports_and_probes_are_what_the_app_serves(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    served = {getattr(r, "path", "") for r in build_app(title="probe", routers=[], health=Health()).routes}
    objects = rendered[overlay]
    config = named(objects, "ConfigMap", of_kind(objects, "ConfigMap")[0]["metadata"]["name"])["data"]
    assert int(config["DUNNING_HTTP_PORT"]) == HTTP_PORT
    roles_seen = set()
    for deployment in of_kind(objects, "Deployment"):
        role = role_of(deployment)
        assert role in {r.value for r in Role}
        roles_seen.add(role)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
        expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}
        for probe, path in expected.items():
            get = container[probe]["httpGet"]
            assert get["path"] == path
            assert path in served
            assert get["port"] in ("http", HTTP_PORT)
    assert roles_seen == {r.value for r in Role}
    for service in of_kind(objects, "Service"):
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] in ("http", HTTP_PORT)
        assert len(deployment_for_selector(objects, service["spec"]["selector"])) == 1


def test_compose_roles_ports_and_healthchecks(compose: dict[str, Any]) -> None:
    served = {getattr(r, "path", "") for r in build_app(title="probe", routers=[], health=Health()).routes}
    for name, svc in _dunning_services(compose).items():
        command = svc["command"]
        assert command == ["migrate"] or (command[0] == "serve" and command[1] in {r.value for r in Role})
        assert int(svc["environment"]["DUNNING_HTTP_PORT"]) == HTTP_PORT
        for port in svc.get("ports", []):
            assert port.endswith(f":{HTTP_PORT}"), f"{name} publishes {port}"
        if command != ["migrate"]:
            probe = " ".join(svc["healthcheck"]["test"])
            url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", probe)
            assert url is not None
            assert int(url.group(1)) == HTTP_PORT
            assert url.group(2) in served


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_public_ingress_carries_only_public_paths_and_all_of_them(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    services = {s["metadata"]["name"]: s for s in of_kind(objects, "Service")}
    exposed: dict[str, set[str]] = {"public": set(), "internal": set()}
    hosts: dict[str, set[str]] = {"public": set(), "internal": set()}
    for ingress in of_kind(objects, "Ingress"):
        exposure = ingress["metadata"]["labels"]["dunning.io/exposure"]
        for rule in ingress["spec"]["rules"]:
            hosts[exposure].add(rule["host"])
            for item in rule["http"]["paths"]:
                backend = services[item["backend"]["service"]["name"]]
                (deployment,) = deployment_for_selector(objects, backend["spec"]["selector"])
                matched = {
                    r
                    for r in ROUTES_BY_ROLE[role_of(deployment)]
                    if _matches(item["path"], item["pathType"], r)
                }
                assert matched, f"{item['path']} reaches no route of {backend['metadata']['name']}"
                if exposure == "public":
                    leaked = matched & INTERNAL_ROUTES
                    assert not leaked, f"internal API on the public host: {sorted(leaked)}"
                exposed[exposure] |= matched
    assert not hosts["public"] & hosts["internal"]
    assert exposed["public"] == PUBLIC_ROUTES
    assert exposed["internal"] == INTERNAL_ROUTES


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_triggers_follow_the_consumers(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    config = of_kind(objects, "ConfigMap")[0]["data"]
    partitions = int(config["DUNNING_KAFKA_TOPIC_PARTITIONS"])
    scaled_roles = set()
    for scaled in of_kind(objects, "ScaledObject"):
        role = role_of(named(objects, "Deployment", scaled["spec"]["scaleTargetRef"]["name"]))
        scaled_roles.add(role)
        consumer = CONSUMERS[role]
        triggers = scaled["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {consumer.name}
        assert sorted(t["metadata"]["topic"] for t in triggers) == sorted(consumer.topics)
        assert {t["metadata"]["bootstrapServers"] for t in triggers} == {config["DUNNING_KAFKA_BOOTSTRAP"]}
        # The consumer starts from the earliest offset: KEDA must count lag the same way.
        assert {t["metadata"]["offsetResetPolicy"] for t in triggers} == {"earliest"}
        # More consumers than partitions sit idle; 0 replicas would stop the durable timers.
        assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= partitions
    assert scaled_roles == set(CONSUMERS)
    (hpa,) = of_kind(objects, "HorizontalPodAutoscaler")
    assert role_of(named(objects, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])) == "ingest"


def test_compose_creates_every_topic_with_the_intended_partitions(compose: dict[str, Any]) -> None:
    script = compose["services"]["kafka-topics"]["command"][0]
    for topic in ALL_TOPICS:
        assert topic in script
    assert '"$$topic.dlq"' in script
    assert dlq_topic("$$topic") == "$$topic.dlq"
    default = SystemSettings.model_fields["kafka_topic_partitions"].default
    assert f"${{KAFKA_TOPIC_PARTITIONS:-{default}}}" in script
    env = compose["x-dunning-env"]
    assert env["DUNNING_KAFKA_TOPIC_PARTITIONS"] == f"${{KAFKA_TOPIC_PARTITIONS:-{default}}}"
    assert env["DUNNING_KAFKA_ENABLE_IDEMPOTENCE"] == "true"


def _registry() -> tuple[set[str], dict[str, set[str]]]:
    """Sample names the default registry exposes, and each one's label names."""
    assert len(METRIC_MODULES) == 4  # imported above: importing registers their metrics
    labels: dict[str, set[str]] = {}
    for name, collector in REGISTRY._names_to_collectors.items():
        if getattr(collector, "_type", None) == "counter" and not name.endswith(("_total", "_created")):
            continue  # a counter is exposed as NAME_total, never as its bare name
        labelnames = set(cast(tuple[str, ...], getattr(collector, "_labelnames", ())))
        labels[name] = labelnames | ({"le"} if name.endswith("_bucket") else set())
    return set(labels), labels


def _emitted(metric: str, value: str) -> bool:
    """Whether the code can give ``metric`` the label value ``value``: the literal is in a file that
    uses the metric's Python name, or in a ``Literal[...]`` of that file's package (a status type)."""
    collector = REGISTRY._names_to_collectors[metric]
    (variable,) = [
        name for module in METRIC_MODULES for name, obj in vars(module).items() if obj is collector
    ]
    users = [
        p
        for base in ("libs", "services", "src")
        for p in (ROOT / base).rglob("*.py")
        if re.search(rf"\b{variable}\.labels\(", p.read_text())
    ]
    assert users, f"nothing increments {metric}"
    literal = f'"{value}"'
    if any(literal in p.read_text() for p in users):
        return True
    packages = {p.parent for p in users}
    return any(
        re.search(rf"Literal\[[^\]]*{re.escape(literal)}", p.read_text())
        for package in packages
        for p in package.rglob("*.py")
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_alerts_use_only_metrics_labels_and_values_the_code_exports(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    names, labels = _registry()
    (rule,) = of_kind(rendered[overlay], "PrometheusRule")
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert len(alerts) >= 6
    used: set[str] = set()
    for alert in alerts:
        expr = alert["expr"]
        metrics = set(re.findall(r"\b(dunning_[a-z0-9_]+)\b", expr))
        assert metrics, f"{alert['alert']} watches no dunning metric"
        unknown = metrics - names
        assert not unknown, f"{alert['alert']}: no such metric {sorted(unknown)}"
        used |= metrics
        known_labels = set().union(*(labels[m] for m in metrics))
        for metric, selector in re.findall(r"\b(dunning_[a-z0-9_]+)\{([^}]*)\}", expr):
            for label, _op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector):
                assert label in labels[metric], f"{alert['alert']}: {metric} has no label {label}"
                for literal in value.split("|"):
                    assert _emitted(metric, literal), f"{alert['alert']}: {label}={literal} never emitted"
        for grouping in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            for label in (g.strip() for g in grouping.split(",")):
                assert label in known_labels, f"{alert['alert']}: grouped by unknown label {label}"
    asked_for = {
        "dunning_consumer_lag",
        "dunning_outbox_lag_seconds",
        "dunning_consumer_events_total",
        "dunning_webhooks_total",
        "dunning_retry_attempts_total",
        "dunning_messages_total",
    }
    assert asked_for <= used


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_locked_down_as_the_image_user(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    from tests.deploy.test_dockerfile import image_uid_and_data_dir

    uid, data_dir = image_uid_and_data_dir()
    objects = rendered[overlay]
    config = of_kind(objects, "ConfigMap")[0]["data"]
    assert config["DUNNING_DATA_DIR"] == data_dir
    for owner, spec in pod_specs(objects):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] == uid
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert {"requests", "limits"} <= set(container["resources"])
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert {data_dir, "/tmp"} <= set(mounts), f"{owner['metadata']['name']}: writable dirs"
            volumes = {v["name"]: v for v in spec["volumes"]}
            assert all("emptyDir" in volumes[mounts[p]] for p in (data_dir, "/tmp"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_point_at_something(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        assert len(deployment_for_selector(objects, pdb["spec"]["selector"]["matchLabels"])) == 1
    deployments = {d["metadata"]["name"] for d in of_kind(objects, "Deployment")}
    assert {p["metadata"]["name"] for p in of_kind(objects, "PodDisruptionBudget")} == deployments
    for policy in of_kind(objects, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        if selector:
            assert deployment_for_selector(objects, selector), policy["metadata"]["name"]
    (monitor,) = of_kind(objects, "ServiceMonitor")
    port = monitor["spec"]["endpoints"][0]["port"]
    selected = [
        s
        for s in of_kind(objects, "Service")
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert {s["metadata"]["name"] for s in selected} == deployments
    assert all(s["spec"]["ports"][0]["name"] == port for s in selected)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_static_membership_and_grace_periods(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    for deployment in of_kind(objects, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        pod_name = [e for e in container.get("env", []) if e["name"] == "POD_NAME"]
        if role_of(deployment) in CONSUMERS:
            (variable,) = pod_name
            assert variable["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            # Consumer drain (~3 s of retry backoff per record) plus one claimed batch of calls.
            assert spec["terminationGracePeriodSeconds"] >= 60
        else:
            assert not pod_name
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        sleep = int(pre_stop[1]) if pre_stop else 0
        assert spec["terminationGracePeriodSeconds"] >= sleep + 20
