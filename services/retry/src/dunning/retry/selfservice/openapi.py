"""How the page's routes appear in the OpenAPI document: HTML answers, not problem+json."""

from __future__ import annotations

from typing import Any, Final


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


_LINK_ERRORS: Final = {
    404: _html("The link is not valid (tampered with, not ours, or its case is gone): an HTML page"),
    410: _html("The link has expired: an HTML page"),
    429: _html("Too many requests with this link; retry after `Retry-After` seconds: an HTML page"),
}

PAGE_ROUTE: Final[dict[str, Any]] = {
    "summary": "Customer self-service page (HTML, public, opened by a signed link)",
    # FastAPI lists 422 wherever there is a parameter; the page never sends it (any token is
    # read, and one that does not open answers 404), so it is described as what it would be.
    "responses": {
        200: _html("The page"),
        422: _html("Never sent: a token that does not open is a 404"),
        **_LINK_ERRORS,
    },
}

_FORM_FIELDS: Final = {
    "form_token": {"type": "string", "description": "The form's token from the page (binds it to this link)"},
    "pay_by": {"type": "string", "format": "date", "description": "promise: the date to pay by"},
    "instalments": {"type": "integer", "description": "plan: one of the counts on offer"},
    "reason": {"type": "string", "description": "dispute: one of the reasons on offer"},
    "details": {"type": "string", "maxLength": 2000, "description": "dispute: the customer's words"},
}

FORM_ROUTE: Final[dict[str, Any]] = {
    "status_code": 303,
    "responses": {
        303: {"description": "Done: back to the page with a confirmation (or on to the processor's page)"},
        400: _html("The form is not UTF-8 form data: an HTML page"),
        403: _html("The form's token is missing, wrong, or from before the case changed: an HTML page"),
        409: _html("Refused in the case's current state: the page, with the reason"),
        413: _html("The form is larger than 8 KiB: an HTML page"),
        415: _html("Not application/x-www-form-urlencoded: an HTML page"),
        422: _html("A field is invalid: the page, with the error beside the field"),
        503: _html("method: the processor's page cannot be reached now: the page, with the reason"),
        **_LINK_ERRORS,
    },
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": _FORM_FIELDS}
                }
            },
        }
    },
}
