"""The error responses as the OpenAPI document states them: one shape (api.errors renders it), one description
per status, built once. Routes pick theirs with `responses=error_responses(404, 409)`; dependencies declare theirs
with @answers, and api.openapi adds those to every route that uses them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error answer: a stable `code`, a `message` in plain words, `details` naming the field when one is
    at fault."""

    error: ErrorDetail


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_WHEN = {
    400: "A value the schema cannot judge was looked at and refused: an image that does not decode, a URL that "
         "does not answer or is not allowed, a graph the ComfyUI refuses or whose links loop, a cursor this API did "
         "not hand out, a body that cannot be read",
    401: "No credentials, or an unknown, expired or revoked API key (or creator session)",
    402: "The account's plan has used this month's included images and is not billed by use; `details` says "
         "when the month renews and where to upgrade",
    403: "The API key lacks the scope this route needs",
    404: "What the request names does not exist, or belongs to another key",
    409: "The request conflicts with the current state (an Idempotency-Key used with another body, ...)",
    413: "The body is larger than MAX_REQUEST_BYTES, or an input image larger than MAX_INPUT_BYTES",
    422: "The request does not fit this schema (or a limit its descriptions state); `details` names the field",
    429: "Too many requests or unfinished jobs for this key; retry after `Retry-After` seconds",
    500: "A fault of ours; `details.error_id` finds it in the API's log",
    502: "The sign-in provider did not answer",
    503: "A service the API needs (the database, Temporal, Google Drive, Stripe) did not answer; retry after "
         "`Retry-After` seconds",
}
ERROR_RESPONSES: dict[int, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": when, **({"headers": _RETRY_AFTER} if status == 429 else {})}
    for status, when in _WHEN.items()}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of a route: `responses=error_responses(404, 409)`."""
    return {status: ERROR_RESPONSES[status] for status in statuses}


Dependency = TypeVar("Dependency", bound=Callable[..., Any])


def answers(*statuses: int) -> Callable[[Dependency], Dependency]:
    """Mark a dependency with the error statuses it can answer; every route that uses it documents them
    (api.openapi), so a route lists only the errors of its own body."""

    def mark(dependency: Dependency) -> Dependency:
        dependency.error_statuses = frozenset(statuses)  # type: ignore[attr-defined]
        return dependency

    return mark
