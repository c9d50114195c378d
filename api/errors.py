"""The one error shape every route answers with: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlAlchemyTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from comfy_platform.submission import TemporalUnavailable
from db.session import DatabaseUnavailable
from presets.errors import InvalidJobRequest

log = logging.getLogger(__name__)


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
        return JSONResponse(error_body("temporal_unavailable", "the job could not be started just now and nothing "
                                       "was recorded; send the same request again"),
                            503, headers={"Retry-After": "5"})

    @app.exception_handler(InvalidJobRequest)
    async def _invalid_job(_: Request, exc: InvalidJobRequest) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, field_details(exc.field, exc.details)), 422)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(SqlAlchemyTimeout)
    @app.exception_handler(DatabaseUnavailable)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not database_trouble_of_the_moment(exc):
            raise exc  # a bug: the 500 it is
        log.warning("database unavailable for %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body("database_unavailable", "the database did not answer; try again"), 503,
                            headers={"Retry-After": "2"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
                  for e in exc.errors()]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        return JSONResponse(error_body("invalid_request", f"{first['field']}: {first['message']}", errors), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body("http_error", str(exc.detail)), exc.status_code, headers=exc.headers)
