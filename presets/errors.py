"""The one error for a job request that cannot be built. `field` names what was wrong, for a 4xx body."""

from __future__ import annotations

from typing import Any


class InvalidJobRequest(ValueError):
    def __init__(self, message: str, field: str | None = None, details: Any = None, code: str = "invalid_request"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details
        self.code = code
