"""docs/openapi.json is exactly what `dunning run` serves, and every route documents itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dunning.cli.openapi import render, system_openapi

CHECKED_IN = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch"}
# Paths with parameters that are not objects which can be missing, and why.
NO_404 = {
    "GET /v1/customers/{customer_id}/notices": "an unknown customer has no notices: an empty page",
    "PUT /v1/customers/{customer_id}/contact": "creates the contact when there is none",
    "PUT /v1/customers/{customer_id}/b2b": "creates the customer's B2B settings when there are none",
    "PUT /v1/notification-endpoints/{kind}": "kind is platform or agency (422 otherwise)",
    "GET /v1/unsubscribe/{token}": "customer-facing; notify's public_api.py does not declare its 404 yet",
    "POST /v1/unsubscribe/{token}": "as the GET",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return system_openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
        if method in METHODS
    ]


def test_checked_in_document_matches_the_code(document: dict[str, Any]) -> None:
    assert CHECKED_IN.exists(), "docs/openapi.json is missing: run `make openapi`"
    assert CHECKED_IN.read_text() == render(document), "docs/openapi.json drifted: run `make openapi`"


def test_every_slice_is_in_the_one_document(document: dict[str, Any]) -> None:
    paths = set(document["paths"])
    # tenancy, ingest, retry and notify slices, all in what `dunning run` serves
    assert {
        "/v1/api-keys",
        "/v1/webhooks/{provider}/{tenant_id}",
        "/v1/cases",
        "/v1/templates/preview",
    } <= paths


def test_every_operation_has_a_summary_and_tags(document: dict[str, Any]) -> None:
    missing = [f"{m} {p}" for m, p, op in operations(document) if not op.get("summary") or not op.get("tags")]
    assert missing == []


def test_every_error_is_documented_as_problem_json(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        # The customer's self-service page answers people, not programs: its errors are pages.
        expected = ["text/html"] if path.startswith("/pay/") else ["application/problem+json"]
        for status, response in op["responses"].items():
            if status[0] in "45":
                content = response.get("content", {})
                assert list(content) == expected, f"{method} {path} {status}: {content}"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "request_id" in document["components"]["schemas"]["Problem"]["properties"]


def test_keyed_routes_document_401_403_429_and_routes_with_ids_document_404(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        schemes = {name for req in op.get("security", []) for name in req}
        if "TenantApiKey" in schemes:
            assert {"401", "403", "429"} <= set(op["responses"]), f"{method} {path}"
        if "OperatorToken" in schemes:
            assert {"401", "403"} <= set(op["responses"]), f"{method} {path}"
        if "{" in path and f"{method} {path}" not in NO_404:
            # A path that names an object can name one that does not exist (for this tenant).
            assert "404" in op["responses"], f"{method} {path} names an object but documents no 404"
        if any(p["in"] in ("path", "query") for p in op.get("parameters", [])) or "requestBody" in op:
            assert "422" in op["responses"], f"{method} {path}"


def test_both_credentials_are_security_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["TenantApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A tenant API key (`dk_...`), with the scope the route needs",
    }
    assert schemes["OperatorToken"]["scheme"] == "bearer"
