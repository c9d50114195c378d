"""Client for ComfyUI's HTTP + WebSocket API, written against a real server's recorded behaviour."""

from comfy_platform.comfyui.client import ComfyClient, PromptResult, Progress
from comfy_platform.comfyui.errors import (
    ComfyError,
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyMalformedPrompt,
    ComfyPromptLost,
    ComfyUnavailable,
    ComfyValidationError,
)

__all__ = [
    "ComfyClient",
    "PromptResult",
    "Progress",
    "ComfyError",
    "ComfyExecutionError",
    "ComfyInterrupted",
    "ComfyMalformedPrompt",
    "ComfyPromptLost",
    "ComfyUnavailable",
    "ComfyValidationError",
]
