"""Why a job cannot be created, in words for the person who asked; the doors (API, CLI) turn them into answers.

InvalidJobRequest (presets/errors.py) is a request that does not fit what the platform publishes; UnusableContent
one that fits but names something that cannot be used. The input errors below say which input and why.
"""

from __future__ import annotations

from presets.errors import InvalidJobRequest, UnusableContent


class InputRejected(UnusableContent):
    """An input the request names cannot be used: not an image, not base64, an unsafe or unreachable URL."""


class InputNotFound(InvalidJobRequest):
    """An input the request names does not exist for whoever asks (an upload of another key is as unknown)."""


class InputTooLarge(InvalidJobRequest):
    """An input is over MAX_INPUT_BYTES."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key already named a job made from another request."""

    def __init__(self, job_id: str) -> None:
        super().__init__("this Idempotency-Key was used with a different request body")
        self.message = str(self)
        self.job_id = job_id


class NoBackendCanRun(InvalidJobRequest):
    """No ComfyUI backend of the job's group has every node class and model file its graph needs."""
