"""Stripe's error responses: ``{"error": {...}}`` bodies with the status codes the SDK maps to exceptions."""

from __future__ import annotations

from typing import Any

DOCS = "https://docs.stripe.com"
_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api"
    "#authentication for details, or we can help at https://support.stripe.com/."
)
_LOCK_TIMEOUT = (
    "This object cannot be accessed right now because another API request or Stripe process is "
    "currently accessing it. If you see this error intermittently, retry the request. If you see this "
    "error frequently and are making multiple concurrent requests to a single object, make your "
    "requests serially or at a lower rate."
)


class StripeApiError(Exception):
    """An error answer. ``replayable``: Stripe saves it under the idempotency key, because the
    endpoint had started executing (parameter validation and throttling errors are not saved)."""

    def __init__(
        self,
        status: int,
        error: dict[str, Any],
        *,
        replayable: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error
        self.replayable = replayable
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def _error(type_: str, message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type_, "message": message}
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"{DOCS}/error-codes/{code.replace('_', '-')}"
    if param is not None:
        error["param"] = param
    return error


def invalid_request(
    message: str, *, code: str | None = None, param: str | None = None, status: int = 400
) -> StripeApiError:
    """A state error raised while the endpoint executes (saved for idempotent replay)."""
    return StripeApiError(status, _error("invalid_request_error", message, code=code, param=param))


def invalid_param(message: str, *, param: str, code: str | None = None) -> StripeApiError:
    return StripeApiError(
        400,
        _error("invalid_request_error", message, code=code, param=param),
        replayable=False,
    )


def unknown_param(name: str) -> StripeApiError:
    return invalid_param(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def resource_missing(kind: str, object_id: str, *, param: str = "id") -> StripeApiError:
    return StripeApiError(
        404,
        _error(
            "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing", param=param
        ),
        replayable=False,
    )


def unrecognized_url(method: str, path: str) -> StripeApiError:
    message = (
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can "
        "help at https://support.stripe.com/."
    )
    return StripeApiError(404, _error("invalid_request_error", message), replayable=False)


def authentication(key: str | None) -> StripeApiError:
    if not key:
        message = _NO_KEY
    else:
        masked = key[:8] + "*" * max(len(key) - 12, 4) + key[-4:]
        message = f"Invalid API Key provided: {masked}"
    return StripeApiError(
        401,
        _error("invalid_request_error", message),
        replayable=False,
        headers={"WWW-Authenticate": 'Bearer realm="Stripe"'},
    )


def no_access(key: str, account: str) -> StripeApiError:
    message = (
        f"The provided key '{key[:8]}{'*' * 4}{key[-4:]}' does not have access to account '{account}' "
        "(or that account does not exist). Application access may have been revoked."
    )
    return StripeApiError(
        403, _error("invalid_request_error", message, code="account_invalid"), replayable=False
    )


def rate_limited(*, lock_timeout: bool = False, should_retry: bool | None = None) -> StripeApiError:
    if lock_timeout:
        error = _error("invalid_request_error", _LOCK_TIMEOUT, code="lock_timeout")
    else:
        error = _error("invalid_request_error", "Request rate limit exceeded", code="rate_limit")
    return StripeApiError(429, error, replayable=False, headers=_should_retry(should_retry))


def api_error(status: int = 500, *, should_retry: bool | None = None) -> StripeApiError:
    message = (
        "An unknown error occurred"
        if status == 500
        else "Stripe is temporarily unavailable. Please retry your request shortly."
    )
    return StripeApiError(
        status, _error("api_error", message), replayable=False, headers=_should_retry(should_retry)
    )


def idempotency_mismatch(key: str, *, endpoint: tuple[str, str] | None = None) -> StripeApiError:
    if endpoint is None:
        reason = (
            "Keys for idempotent requests can only be used with the same parameters "
            "they were first used with."
        )
    else:
        reason = (
            "Keys for idempotent requests can only be used for the same endpoint they were first used for "
            f"('{endpoint[0]}' vs '{endpoint[1]}')."
        )
    message = f"{reason} Try using a key other than '{key}' if you meant to execute a different request."
    return StripeApiError(400, _error("idempotency_error", message), replayable=False)


def idempotency_key_in_use(key: str) -> StripeApiError:
    message = (
        "There is currently another in-progress request using this Idempotent Key (that probably means "
        f"you submitted twice, and the other request is still going through): {key}. Please try again later."
    )
    return StripeApiError(
        409, _error("invalid_request_error", message, code="idempotency_key_in_use"), replayable=False
    )


def card_error(error: dict[str, Any]) -> StripeApiError:
    return StripeApiError(402, error)


def _should_retry(value: bool | None) -> dict[str, str]:
    return {} if value is None else {"Stripe-Should-Retry": "true" if value else "false"}
