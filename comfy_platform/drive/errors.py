"""Drive failures as a few typed errors, so activities can decide to retry without reading HTTP.

googleapiclient raises HttpError (any non-2xx), google.auth raises RefreshError when the token
endpoint refuses a refresh, and httplib2/sockets raise transport errors. `translate` maps each
to one DriveError; `.retryable` says whether trying again later can help. The client makes no
retries of its own: Temporal activities do, with their own backoff.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import HttpError

DEFAULT_RETRY_AFTER_S = 5.0
_RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}


class DriveError(Exception):
    """`message` is fit to show the creator; `detail`, when set, is what Google said, for logs."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.reason, self.detail = message, status, reason, detail


class DriveAuthRevoked(DriveError):
    """The user's grant is gone (refresh refused, or still 401 after a refresh): ask them to reconnect."""


# What a creator reads (dashboard, reconnect email) when Google refuses their grant; Google's own words
# (`invalid_grant: Token has been expired or revoked.`, a 401 body) go to `detail`.
REVOKED_MESSAGE = "Google no longer accepts the access you gave to your Google Drive (it was withdrawn or has expired)"


class DriveNotFound(DriveError):
    """The file or folder does not exist, or this user cannot see it."""


class DriveRateLimited(DriveError):
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float = DEFAULT_RETRY_AFTER_S, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class DriveUnavailable(DriveError):
    """5xx, or Drive (or the token endpoint) could not be reached."""
    retryable = True


class DriveInvalidPageToken(DriveError):
    """A page token Drive no longer accepts: start over (e.g. a full listing, then a new start token)."""


class DriveBadRequest(DriveError):
    """Any other refusal: retrying the same request cannot help."""


class DriveFileTooLarge(DriveError):
    """A download passed the size its caller allows (Drive does not report every file's size up front)."""

    def __init__(self, message: str, *, max_bytes: int) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes


# What the client catches and translates: everything else is a bug and propagates as it is.
TRANSLATED = (HttpError, auth_exceptions.RefreshError, auth_exceptions.TransportError, httplib2.HttpLib2Error,
              OSError)


def translate(error: BaseException) -> DriveError:
    """One of TRANSLATED as a DriveError."""
    if isinstance(error, HttpError):
        return _from_http(error)
    if isinstance(error, auth_exceptions.RefreshError):
        # google.auth marks a refusal it expects to pass (a 5xx from the token endpoint) retryable.
        if getattr(error, "retryable", False):
            return DriveUnavailable(f"token refresh failed: {error}")
        return DriveAuthRevoked(REVOKED_MESSAGE, detail=f"token refresh refused: {_refresh_detail(error)}")
    return DriveUnavailable(f"Drive unreachable: {error!r}")


def _from_http(error: HttpError) -> DriveError:
    status = error.resp.status
    reason, message, location = _details(error)
    kwargs = {"status": status, "reason": reason}
    if status == 401:
        return DriveAuthRevoked(REVOKED_MESSAGE, detail=message, **kwargs)
    if status == 404:
        return DriveNotFound(message, **kwargs)
    if status == 429 or (status == 403 and reason in _RATE_LIMIT_REASONS):
        return DriveRateLimited(message, retry_after_s=_retry_after(error.resp.get("retry-after")), **kwargs)
    if status >= 500 or status == 408:
        return DriveUnavailable(message, **kwargs)
    if status == 400 and (location == "pageToken" or "page token" in message.lower()):
        return DriveInvalidPageToken(message, **kwargs)
    return DriveBadRequest(message, **kwargs)


def _refresh_detail(error: auth_exceptions.RefreshError) -> str:
    """google-auth raises RefreshError(message, response body): the message alone, not the tuple's repr."""
    first = error.args[0] if error.args else ""
    return first if isinstance(first, str) and first else type(error).__name__


def _details(error: HttpError) -> tuple[str | None, str, str | None]:
    """(first reason, message, first location) from Google's error body, when there is one."""
    message = f"HTTP {error.resp.status}: {error.reason or ''}".strip()
    try:
        body = json.loads(error.content.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None, message, None
    if not isinstance(body, dict):  # e.g. an OAuth error: {"error": "invalid_grant"}
        return None, message, None
    items = body.get("errors")
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    reason, location = first.get("reason"), first.get("location")
    return (reason if isinstance(reason, str) else None, str(body.get("message") or message),
            location if isinstance(location, str) else None)


def _retry_after(value: str | None) -> float:
    if not value:
        return DEFAULT_RETRY_AFTER_S
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
