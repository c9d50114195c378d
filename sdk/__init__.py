"""The Python client of the Comfy Platform Developer API; it needs httpx and standardwebhooks, none of the server."""

from sdk.client import (
    ApiError,
    ComfyPlatformClient,
    image_input,
    new_output_file,
    verify_webhook,
)

__all__ = ["ApiError", "ComfyPlatformClient", "image_input", "new_output_file", "verify_webhook"]
