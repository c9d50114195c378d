"""Google's error shape: `{"error": {"code", "message", "errors": [{"domain", "reason", "message", ...}]}}`.

Handlers raise ApiError; the middleware renders it. googleapiclient reads `error.message` for
HttpError.reason and `errors[0].reason` to decide what a 403 means, so both must be there.
"""

from __future__ import annotations

from aiohttp import web

AUTH_CHALLENGE = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, *, domain: str = "global",
                 location: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.domain, self.location, self.headers = domain, location, headers or {}

    def response(self) -> web.Response:
        item = {"domain": self.domain, "reason": self.reason, "message": self.message}
        if self.location is not None:
            item.update(locationType="header" if self.location == "Authorization" else "parameter",
                        location=self.location)
        body = {"error": {"code": self.code, "message": self.message, "errors": [item]}}
        return web.json_response(body, status=self.code, headers=self.headers)


def not_found(file_id: str, location: str = "fileId") -> ApiError:
    return ApiError(404, "notFound", f"File not found: {file_id}.", location=location)


def invalid(location: str, message: str = "Invalid Value") -> ApiError:
    """A bad parameter value. A bad pageToken answers exactly this, which callers detect."""
    return ApiError(400, "invalid", message, location=location)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "badRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.",
                    location="Authorization", headers={"WWW-Authenticate": AUTH_CHALLENGE})


def forbidden(reason: str, message: str) -> ApiError:
    return ApiError(403, reason, message)


def root_is_read_only() -> ApiError:
    return forbidden("insufficientFilePermissions", "The user does not have sufficient permissions for this file.")
