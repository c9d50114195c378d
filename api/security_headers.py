"""Security headers: every response says nosniff and same-origin referrers; every HTML page also gets a
Content-Security-Policy (scripts and styles only from this site, no inline script) and may not be framed."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from comfy_platform.settings import Settings


def storage_origin(settings: Settings) -> str | None:
    """Where presigned output and thumbnail URLs point when outputs live in S3 (None: served by the app)."""
    if not settings.STORAGE_URL.startswith("s3://"):
        return None
    scheme = "https" if settings.S3_SECURE else "http"
    return f"{scheme}://{settings.S3_PUBLIC_ENDPOINT or settings.S3_ENDPOINT}"


def content_security_policy(settings: Settings, form_action: str | None = None) -> str:
    """The pages' policy; `form_action`: one more origin a page's form may post to."""
    images = " ".join(filter(None, ["'self'", "data:", storage_origin(settings)]))
    forms = " ".join(filter(None, ["'self'", form_action]))
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", f"img-src {images}",
        "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'none'", f"form-action {forms}",
        "frame-ancestors 'none'"])


class SecurityHeaders:
    """Pure ASGI (not BaseHTTPMiddleware), so server-sent event streams pass through unbuffered. A route that
    sets a Content-Security-Policy of its own keeps it."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.policy = content_security_policy(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", self.policy)
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)
