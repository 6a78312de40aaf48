"""The OpenAPI side of problem+json: one ``Problem`` schema, error responses every slice shares.

Routes declare their own domain errors with ``responses=problem_responses(404, 409)``; the
errors that follow from the conventions themselves are added to the document for every route
alike: 401/403/429 where a tenant API key is required, 401/403 where the operator token is,
422 (ours, not FastAPI's default shape) where a parameter or body is validated, and the
problem+json content of any error a route describes in words only.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from dunning.common.problems import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"
# The security scheme of tenant API keys: routes that need one are rate limited per key.
TENANT_API_KEY_SCHEME = "TenantApiKey"

_DESCRIPTIONS = {
    400: "Bad request (problem+json)",
    401: "No API key, or an unknown or revoked one (problem+json, `WWW-Authenticate: Bearer`)",
    403: "The credential lacks the scope this route needs (problem+json)",
    404: "No such object for this tenant (another tenant's objects are 404 too) (problem+json)",
    409: "Refused in the object's current state (problem+json)",
    413: "Body too large (problem+json)",
    422: "The request does not match the schema, or breaks a rule (problem+json)",
    429: "Too many requests for this API key; retry after `Retry-After` seconds (problem+json)",
}


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(examples=["https://dunning.dev/problems/not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no case with this id"])
    instance: str = Field(description="The request path", examples=["/v1/cases/case_0123"])
    request_id: str | None = Field(
        default=None, description="The request's X-Request-ID, as in the response header"
    )
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For `validation` problems: each field that failed (`loc`, `msg`)"
    )


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or _DESCRIPTIONS.get(status, "Error (problem+json)"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds until a request is allowed",
                "schema": {"type": "integer"},
            }
        }
    return response


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own errors: ``problem_responses(404, 409)``."""
    return {status: problem_response(status) for status in statuses}


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe errors as they are answered (see the module docstring)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
        for methods in schema.get("paths", {}).values():
            for operation in methods.values():
                _complete(operation)
        # FastAPI's own 422 shape is never sent: every 422 is a problem document.
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    unprocessable = responses.get("422", {}).get("content", {}).get("application/json", {})
    if "HTTPValidationError" in str(unprocessable):
        responses["422"] = problem_response(422)
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    needed = (401, 403, 429) if TENANT_API_KEY_SCHEME in schemes else (401, 403) if schemes else ()
    # A body that is not even text (invalid UTF-8 for a JSON body) is refused by FastAPI with a 400
    # before validation: every operation that takes a body can answer it.
    body = (400,) if "requestBody" in operation else ()
    for status in (*body, *needed):
        responses.setdefault(str(status), problem_response(status))
    for code, response in responses.items():
        # Every error is a problem document, also where a route only wrote a description.
        if code[0] in "45" and "content" not in response:
            response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
