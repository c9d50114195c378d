"""The one error shape every route answers with: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlAlchemyTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.json_body import body_problem
from comfy_platform.storable import UnstorableValue
from db.session import DatabaseUnavailable
from presets.errors import InvalidJobRequest, UnusableContent
from services.billing.errors import (
    AlreadyOnPlan,
    BillingError,
    BillingUnavailable,
    QuotaExceeded,
)
from services.errors import IdempotencyConflict, InputNotFound, InputTooLarge
from services.job_starts import TemporalUnavailable

log = logging.getLogger(__name__)
BILLING_STATUS = {QuotaExceeded: 402, AlreadyOnPlan: 409, BillingUnavailable: 503}
# The answer to each kind of refused job request, the most particular first.
JOB_REQUEST_STATUS = ((InputNotFound, 404), (InputTooLarge, 413), (UnusableContent, 400), (InvalidJobRequest, 422))


class ApiError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None,
                 status_code: int | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.headers = headers


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class InvalidInput(ApiError):
    """An input the request names that cannot be used: not an image, truncated, not base64, not fetchable."""

    status_code = 400
    code = "invalid_input"


def field_details(field: str | None, details: Any = None) -> dict[str, Any]:
    """Every input error names its field in details; extra details (ComfyUI node_errors...) sit beside it."""
    if isinstance(details, dict):
        return {"field": field, **details}
    return {"field": field} if details is None else {"field": field, "details": details}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def database_trouble_of_the_moment(exc: Exception) -> bool:
    """Worth a retry: no connection could be made, one was lost, the pool was full, or SQLite's lock was held past
    its busy timeout. Not: a missing table, a read-only or corrupt file (SQLite calls those operational too)."""
    if isinstance(exc, DatabaseUnavailable | SqlAlchemyTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if type(exc.orig).__module__ == "sqlite3":
        return isinstance(exc, OperationalError) and any(word in str(exc.orig) for word in ("locked", "busy"))
    return isinstance(exc, OperationalError | InterfaceError)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status_code, headers=exc.headers)

    @app.exception_handler(TemporalUnavailable)
    async def _temporal_unavailable(_: Request, exc: TemporalUnavailable) -> JSONResponse:
        log.warning("job not started: %s", exc)  # the SDK's error text is for the log, not the client
        return JSONResponse(error_body("temporal_unavailable", "the job could not be started just now and nothing "
                                       "was recorded; send the same request again"),
                            503, headers={"Retry-After": "5"})

    @app.exception_handler(InvalidJobRequest)
    async def _invalid_job(_: Request, exc: InvalidJobRequest) -> JSONResponse:
        # 422: the request does not fit the published schema; 400: it does, but what it names cannot be used.
        status = next(code for kind, code in JOB_REQUEST_STATUS if isinstance(exc, kind))
        return JSONResponse(error_body(exc.code, exc.message, field_details(exc.field, exc.details)), status)

    @app.exception_handler(BillingError)
    async def _billing(_: Request, exc: BillingError) -> JSONResponse:
        status = BILLING_STATUS.get(type(exc), 400)
        headers = {"Retry-After": "10"} if status == 503 else None
        return JSONResponse(error_body(exc.code, exc.message, exc.details or None), status, headers=headers)

    @app.exception_handler(IdempotencyConflict)
    async def _idempotency_conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return JSONResponse(error_body("idempotency_conflict", exc.message, {"job_id": exc.job_id}), 409)

    @app.exception_handler(UnstorableValue)
    async def _unstorable(_: Request, exc: UnstorableValue) -> JSONResponse:
        return JSONResponse(error_body("invalid_value", exc.message, field_details(exc.field)), 422)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(SqlAlchemyTimeout)
    @app.exception_handler(DatabaseUnavailable)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not database_trouble_of_the_moment(exc):
            raise exc  # a bug: the 500 it is (ServerErrors logs it and answers with an error id)
        log.warning("database unavailable for %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body("database_unavailable", "the database did not answer; try again"), 503,
                            headers={"Retry-After": "2"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field_name(e), "message": body_problem(e, exc.body) or _plain_message(e)}
                  for e in exc.errors()]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        message = _sentence(first["field"], first["message"])
        return JSONResponse(error_body("invalid_request", message, errors), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(error_body("http_error", str(exc.detail)), exc.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's own 405 names only the first route that matched
    the path, so `Allow` on /api/v1/jobs said POST although GET is served there too."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        path_regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if path_regex is not None and route_methods and path_regex.match(request.scope["path"]):
            methods |= route_methods
    return sorted(methods)


# Pydantic's messages name Python types ("a valid dictionary", "instance of ImageInput"); these say it in JSON's,
# and say what would be accepted.
_PLAIN = {"dict_type": "must be an object", "model_type": "must be an object",
          "model_attributes_type": "must be an object", "list_type": "must be an array",
          "string_type": "must be a string", "int_type": "must be a whole number",
          "int_from_float": "must be a whole number", "int_parsing": "must be a whole number",
          "float_type": "must be a number", "float_parsing": "must be a number",
          "bool_type": "must be true or false", "bool_parsing": "must be true or false",
          "finite_number": "must be a finite number", "string_unicode": "must be valid Unicode text",
          "missing": "is required", "extra_forbidden": "is not a field of this request",
          "none_required": "must be null", "url_parsing": "must be a URL", "url_scheme": "must be an http(s) URL"}
_BOUNDED = {"greater_than": "must be greater than {gt}", "greater_than_equal": "must be at least {ge}",
            "less_than": "must be less than {lt}", "less_than_equal": "must be at most {le}",
            "string_too_short": "must be at least {min_length} characters long",
            "string_too_long": "must be at most {max_length} characters long",
            "too_short": "must hold at least {min_length} items", "too_long": "must hold at most {max_length} items",
            "enum": "must be one of {expected}", "literal_error": "must be one of {expected}"}


def _plain_message(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _BOUNDED:
        try:
            return _BOUNDED[kind].format(**ctx)
        except KeyError:
            pass
    return _PLAIN.get(kind, error["msg"])


_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def _sentence(field: str, message: str) -> str:
    """"params.steps must be a whole number", "folder_id is required"; a message of pydantic's own after a colon."""
    if not field:
        return message
    return f"{field} {message}" if message.startswith(("must ", "is ")) else f"{field}: {message}"


def _field_name(error: dict[str, Any]) -> str:
    """The field as the client sent it: `params.steps`, `limit`, `Idempotency-Key`."""
    if error["type"] == "json_invalid":
        return ""  # its location is a character offset, not a field
    location = list(error["loc"])
    if location and location[0] in _LOCATIONS:
        location = location[1:]
    return ".".join(str(p) for p in location)


class ServerErrors:
    """The last net: an error no handler took is logged with its traceback under an id, and the client gets the
    documented shape with that id, never a traceback, a path or a Python repr.

    An ASGI middleware rather than an `Exception` handler, because Starlette re-raises after running such a
    handler (the server would log the traceback a second time, and test clients would see it raised)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            error_id = uuid.uuid4().hex[:16]
            log.exception("unhandled error %s in %s %s", error_id, scope.get("method"), scope.get("path"))
            if started:  # the answer is already on its way; nothing to replace it with
                raise
            body = error_body("internal_error", f"something went wrong on our side; quote error id {error_id}",
                              {"error_id": error_id})
            await JSONResponse(body, 500)(scope, receive, send)
