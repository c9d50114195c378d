"""Typed ComfyUI failures. `retryable` tells the activity layer whether another attempt can help."""

from __future__ import annotations

from typing import Any


class ComfyError(Exception):
    retryable = True
    code = "comfy_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ComfyUnavailable(ComfyError):
    """The backend could not be reached or answered with a server fault: try again later. `delivered` is False
    when the request certainly never reached the server (the connection was refused)."""

    code = "comfy_unavailable"

    def __init__(self, message: str, details: Any = None, *, delivered: bool = True) -> None:
        super().__init__(message, details)
        self.delivered = delivered


class ComfyPromptLost(ComfyError):
    """A prompt we queued is neither queued nor in history (the server restarted): queue it again, unless the job
    has queued it again as often as it may (then `retryable` is False and the job fails)."""

    code = "comfy_prompt_lost"

    def __init__(self, message: str, details: Any = None, *, retryable: bool = True) -> None:
        super().__init__(message, details)
        self.retryable = retryable


class ComfyValidationError(ComfyError):
    """ComfyUI (or our preflight against its /object_info) refused the graph. Another attempt cannot help."""

    retryable = False
    code = "invalid_graph"


class ComfyMalformedPrompt(ComfyValidationError):
    """ComfyUI answered 500 text/plain: the body was not an API-format graph."""

    code = "malformed_graph"


class ComfyExecutionError(ComfyError):
    """A node raised while the prompt ran (execution_error)."""

    code = "execution_error"

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message, details)
        # Running out of GPU memory is a fault of the moment, not of the graph.
        text = f"{details.get('exception_type', '')} {details.get('exception_message', '')}".lower()
        self.retryable = "out of memory" in text or "outofmemory" in text


class ComfyInterrupted(ComfyError):
    """The prompt was interrupted on the server (by a cancel, ours or an operator's)."""

    retryable = False
    code = "interrupted"


def describe_node_errors(node_errors: dict[str, Any]) -> str:
    """One readable line per failing input: `node 3 (ImageBlur) input 'blur_radius': Value 0 smaller than min of 1`."""
    lines = []
    for node_id, entry in (node_errors or {}).items():
        class_type = entry.get("class_type", "?")
        for err in entry.get("errors", []):
            extra = err.get("extra_info") or {}
            input_name = extra.get("input_name") or err.get("details") or ""
            where = f"node {node_id} ({class_type})" + (f" input '{input_name}'" if input_name else "")
            lines.append(f"{where}: {err.get('message', err.get('type', 'invalid'))}")
    return "; ".join(lines)


def validation_error_from_response(body: dict[str, Any]) -> ComfyValidationError:
    """Turn POST /prompt's 400 body ({"error": {...}, "node_errors": {...}}) into one typed error."""
    error = body.get("error") or {}
    node_errors = body.get("node_errors") or {}
    if isinstance(error, str):
        error = {"type": "invalid_prompt", "message": error}
    summary = describe_node_errors(node_errors)
    message = error.get("message") or "ComfyUI refused the graph"
    if summary:
        message = f"{message}: {summary}"
    elif error.get("details"):
        message = f"{message}: {error['details']}"
    return ComfyValidationError(message, {"type": error.get("type"), "error": error, "node_errors": node_errors})
