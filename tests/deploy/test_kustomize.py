"""Every overlay renders with kustomize, and every object it renders is valid for its API.

Built-in kinds are checked with kubernetes-validate (the API's own OpenAPI schemas, strict: an
unknown field fails). KEDA and Prometheus Operator kinds are checked against the hand-written
CRD subsets in schemas/crd-subsets/ (see schemas/README.md for what they cover).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped,unused-ignore]
import pytest
from tests.deploy.manifests import OVERLAYS, SCHEMAS, Manifest, of_kind

# The oldest Kubernetes we claim (autoscaling/v2, policy/v1, seccompProfile, PDB maxUnavailable
# with one replica) and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject.keda.sh-v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.monitoring.coreos.com-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.monitoring.coreos.com-v1.json",
}
EXPECTED_KINDS = {
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Ingress",
    "Job",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "PrometheusRule",
    "ScaledObject",
    "Service",
    "ServiceAccount",
    "ServiceMonitor",
}


def _crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (SCHEMAS / "crd-subsets" / CRD_SCHEMAS[(api_version, kind)]).read_text()
    )
    return schema


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_kind(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    kinds = {o["kind"] for o in rendered[overlay]}
    assert kinds == EXPECTED_KINDS
    assert {d["metadata"]["name"] for d in of_kind(rendered[overlay], "Deployment")} == {
        "dunning-ingest",
        "dunning-relay",
        "dunning-retry",
        "dunning-notify",
    }
    # Secrets are referenced, never shipped.
    assert not of_kind(rendered[overlay], "Secret")


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_objects_match_the_kubernetes_openapi_schema(
    rendered: dict[str, list[Manifest]], overlay: str, version: str
) -> None:
    failures = []
    for obj in rendered[overlay]:
        if (obj["apiVersion"], obj["kind"]) in CRD_SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_crd_subsets(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    custom = [o for o in rendered[overlay] if (o["apiVersion"], o["kind"]) in CRD_SCHEMAS]
    assert {o["kind"] for o in custom} == {"ScaledObject", "ServiceMonitor", "PrometheusRule"}
    for obj in custom:
        jsonschema.Draft202012Validator(_crd_schema(obj["apiVersion"], obj["kind"])).validate(obj)


def test_crd_subsets_reject_what_they_exist_to_catch() -> None:
    """The hand-written schemas are not vacuous: a typo'd trigger field and a missing group fail."""
    scaled = _crd_schema("keda.sh/v1alpha1", "ScaledObject")
    typo: Manifest = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "triggers": [
                {"type": "kafka", "metadata": {"bootstrapServers": "k:9092", "consumerGroups": "g"}}
            ],
        },
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, scaled)
    rule = _crd_schema("monitoring.coreos.com/v1", "PrometheusRule")
    no_expr: Manifest = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "x"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "for": "5 minutes"}]}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(no_expr, rule)
