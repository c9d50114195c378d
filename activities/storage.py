"""StorageActivities: checks on stored job inputs, done before any GPU time is spent."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from PIL import Image
from temporalio import activity
from temporalio.exceptions import ApplicationError

from comfy_platform.storage import ObjectNotFound, Storage
from workflows.shared import CheckInputsInput, CheckInputsOutput

# Larger inputs are refused rather than decoded: a small file can claim billions of pixels.
MAX_INPUT_PIXELS = 64_000_000


class StorageActivities:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

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
                images[name] = _decode(name, path)
        return CheckInputsOutput(images)


def _decode(name: str, path: Path) -> dict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_INPUT_PIXELS:
                    raise _invalid(name, f"is {img.width}x{img.height}, more than {MAX_INPUT_PIXELS} pixels")
                img.load()  # a truncated file fails here, not at open
                return {"width": img.width, "height": img.height, "format": img.format}
    except ApplicationError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _invalid(name, f"is not a readable image ({exc})") from None


def _invalid(name: str, why: str) -> ApplicationError:
    message = f"input '{name}' {why}"
    return ApplicationError(message, {"code": "invalid_input", "message": message, "details": {"input": name}},
                            type="InvalidInput", non_retryable=True)
