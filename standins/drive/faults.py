"""Injected failures and request counts, for tests and benchmarks.

A fault rule answers the next `times` API requests that match it (method, path prefix, request
kind, user; an unset criterion matches anything) with an error in Google's shape instead of
serving them. Rules are tried in the order they were added; `times: null` keeps a rule until
the faults are cleared.

Request kinds are Drive's method ids, plus `files.download` for `files.get?alt=media`,
`revisions.download` for `revisions.get?alt=media` and `upload.chunk` for the PUTs of a
resumable upload: files.list, files.get, files.create, files.update, files.delete,
revisions.list, revisions.get, revisions.update, revisions.delete, changes.getStartPageToken,
changes.list.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ApiError

_DEFAULTS = {  # status -> (domain, reason, message)
    403: ("usageLimits", "userRateLimitExceeded", "User rate limit exceeded."),
    429: ("usageLimits", "rateLimitExceeded", "Rate limit exceeded."),
    500: ("global", "backendError", "Internal Error"),
    502: ("global", "backendError", "Bad Gateway"),
    503: ("global", "backendError", "The service is currently unavailable."),
}


@dataclass
class FaultRule:
    status: int
    times: int | None = 1
    method: str | None = None
    path_prefix: str | None = None
    kind: str | None = None
    user: str | None = None
    reason: str | None = None
    message: str | None = None
    retry_after: float | None = None  # seconds, sent as Retry-After

    @classmethod
    def from_json(cls, body: Any) -> "FaultRule":
        """Raises ValueError for a body the route must refuse."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(body) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
        rule = cls(**body)
        if not _is_int(rule.status) or not 400 <= rule.status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if rule.times is not None and (not _is_int(rule.times) or rule.times < 1):
            raise ValueError("times must be a positive integer or null")
        for name in ("method", "path_prefix", "kind", "user", "reason", "message"):
            if getattr(rule, name) is not None and not isinstance(getattr(rule, name), str):
                raise ValueError(f"{name} must be a string or null")
        if rule.retry_after is not None and (isinstance(rule.retry_after, bool)
                                             or not isinstance(rule.retry_after, (int, float))
                                             or not math.isfinite(rule.retry_after)):
            raise ValueError("retry_after must be a finite number of seconds")
        return rule

    def matches(self, method: str, path: str, kind: str, user: str) -> bool:
        return ((self.method is None or self.method.upper() == method)
                and (self.path_prefix is None or path.startswith(self.path_prefix))
                and (self.kind is None or self.kind == kind)
                and (self.user is None or self.user == user))

    def error(self) -> ApiError:
        domain, reason, message = _DEFAULTS.get(self.status, ("global", "failedPrecondition", "Injected fault."))
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        return ApiError(self.status, self.reason or reason, self.message or message, domain=domain, headers=headers)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def take(self, method: str, path: str, kind: str, user: str) -> ApiError | None:
        for rule in self.rules:
            if rule.matches(method, path, kind, user):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self.rules.remove(rule)
                return rule.error()
        return None

    def as_list(self) -> list[dict]:
        return [asdict(rule) for rule in self.rules]


class Stats:
    """API requests by kind, per user and in total; requests refused for their token apart."""

    def __init__(self) -> None:
        self.by_user: dict[str, Counter[str]] = {}
        self.unauthorized = 0

    def count(self, user: str, kind: str) -> None:
        self.by_user.setdefault(user, Counter())[kind] += 1

    def as_dict(self) -> dict:
        total: Counter[str] = Counter()
        for counts in self.by_user.values():
            total.update(counts)
        return {"requests": sum(total.values()), "by_kind": dict(total),
                "users": {user: dict(counts) for user, counts in self.by_user.items()},
                "unauthorized": self.unauthorized}
