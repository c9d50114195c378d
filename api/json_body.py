"""Request bodies as developers send them: JSON without its Content-Type is read as JSON, and a body that cannot be
read is refused in words ("the body is empty", "the body is not valid JSON at line 1 column 1: ...").

`curl -d '{...}'` sends `application/x-www-form-urlencoded`; the API routes take JSON only, so a body that parses
as a JSON object or array is read as JSON whatever its Content-Type says (README, "Developer API").
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
# The types a body is re-read from when it parses as JSON: what curl and hand-written clients send by default.
_REREAD = {b"", b"application/x-www-form-urlencoded", b"text/plain", b"application/octet-stream"}
_WITH_BODY = {"POST", "PUT", "PATCH"}


class JsonWithoutContentType:
    """An ASGI middleware for the /api/ routes: a JSON object or array sent under another (or no) Content-Type is
    passed on as `application/json`. Anything else (forms, multipart uploads) passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in _WITH_BODY
                or not scope["path"].startswith(API_PREFIX)):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if _media_type(headers.get(b"content-type", b"")) not in _REREAD:
            return await self.app(scope, receive, send)
        messages: list[Message] = []
        while True:  # BodySizeLimit, outside, has bounded it already
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        if _is_json_document(b"".join(m.get("body", b"") for m in messages)):
            kept = [(name, value) for name, value in scope["headers"] if name != b"content-type"]
            scope = {**scope, "headers": [*kept, (b"content-type", b"application/json")]}

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _media_type(content_type: bytes) -> bytes:
    return content_type.split(b";", 1)[0].strip().lower()


def _is_json_document(body: bytes) -> bool:
    if body.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def body_problem(error: dict[str, Any], body: Any) -> str | None:
    """What is wrong with the body as a whole, in words; None when the error is about a field inside it."""
    kind, location = error["type"], tuple(error.get("loc", ()))
    if kind == "json_invalid":
        reason = _first_lower((error.get("ctx") or {}).get("error", "it cannot be parsed"))
        return f"the body is not valid JSON{_where(body, location)}: {reason}"
    if location != ("body",):
        return None
    if kind == "missing":
        return "the body is empty; send a JSON object (Content-Type: application/json)"
    if isinstance(body, bytes | bytearray):  # FastAPI passes bytes on when the Content-Type is not JSON's
        return "the body must be JSON; send a JSON object with Content-Type: application/json"
    return "the body must be a JSON object"


def _where(body: Any, location: tuple) -> str:
    """" at line L column C" of the character offset a JSON error names, when the text is at hand."""
    offset = location[-1] if location and isinstance(location[-1], int) else None
    if offset is None or not isinstance(body, str | bytes | bytearray):
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes | bytearray) else body
    before = text[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return f" at line {line} column {column}"


def _first_lower(text: str) -> str:
    return text[:1].lower() + text[1:]
