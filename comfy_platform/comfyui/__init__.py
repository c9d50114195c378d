"""Client for ComfyUI's HTTP + WebSocket API, written against a real server's recorded behaviour."""

from comfy_platform.comfyui.capabilities import Capabilities
from comfy_platform.comfyui.client import ComfyClient, FoundPrompt
from comfy_platform.comfyui.errors import (
    ComfyError,
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyMalformedPrompt,
    ComfyPromptLost,
    ComfyUnavailable,
    ComfyValidationError,
)
from comfy_platform.comfyui.watcher import Progress, PromptResult

__all__ = [
    "Capabilities",
    "FoundPrompt",
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
