"""StorageActivities: checks on stored job inputs, done before any GPU time is spent."""

from __future__ import annotations

import tempfile
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from comfy_platform.images import ImageChecker, NotAnImage
from comfy_platform.storage import ObjectNotFound, Storage
from workflows.shared import CheckInputsInput, CheckInputsOutput


class StorageActivities:
    def __init__(self, storage: Storage, images: ImageChecker) -> None:
        self.storage = storage
        self.images = images

    @activity.defn
    async def check_inputs(self, request: CheckInputsInput) -> CheckInputsOutput:
        """Every input must be a whole, decodable image; anything else fails the job with its name."""
        images = {}
        with tempfile.TemporaryDirectory(prefix="comfy-in-") as tmp:
            for name, key in request.inputs.items():
                path = Path(tmp) / "input"
                try:
                    await self.storage.get_to_file(key, path)
                except ObjectNotFound:
                    raise _invalid(name, "was not found in storage") from None
                try:
                    info = await self.images.check(path)
                except NotAnImage as exc:
                    raise _invalid(name, str(exc)) from None
                images[name] = {"width": info.width, "height": info.height, "format": info.format}
        return CheckInputsOutput(images=images)


def _invalid(name: str, why: str) -> ApplicationError:
    message = f"input '{name}' {why}"
    activity.logger.warning("job input refused: %s", message)  # the user's input: one line, no traceback (BENIGN)
    return ApplicationError(message, {"code": "invalid_input", "message": message, "details": {"input": name}},
                            type="InvalidInput", non_retryable=True, category=ApplicationErrorCategory.BENIGN)
