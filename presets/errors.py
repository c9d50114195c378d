"""The errors of a job request that cannot be built. `field` names what was wrong, for a 4xx body."""

from __future__ import annotations

from typing import Any


class InvalidJobRequest(ValueError):
    """The request does not fit what the API publishes (an unknown preset, a parameter out of range ...)."""

    def __init__(self, message: str, field: str | None = None, details: Any = None, code: str = "invalid_request"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details
        self.code = code


class UnusableContent(InvalidJobRequest):
    """The request fits the published schema, but what it names cannot be used, which no schema can tell: a graph
    the ComfyUI refuses or that loops, images that are not the ones the graph's loaders read. The API answers
    400 for these and keeps 422 for requests that do not fit its schema."""
