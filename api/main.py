"""The HTTP front end: create_app() builds the FastAPI app; its lifespan owns the long-lived clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.backpressure import BacklogGauge
from api.deps import TemporalConnector, require_csrf, storable_request
from api.docs import install_docs
from api.errors import ServerErrors, error_body, install_error_handlers
from api.job_watcher import JobWatcher
from api.json_body import JsonWithoutContentType
from api.metrics import install_metrics
from api.openapi import install_openapi
from api.routes import (
    billing,
    catalog,
    creator,
    creator_auth,
    creator_photos,
    creator_settings,
    developers,
    files,
    generate,
    health,
    jobs,
    pages,
    stripe_webhooks,
    uploads,
    usage,
)
from api.security_headers import SecurityHeaders
from api.web_pages import install_pages
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings, get_settings
from comfy_platform.storage import storage_from_settings
from comfy_platform.stripe_client import stripe_client
from comfy_platform.tracing import tracing_on
from db.session import create_engine, create_sessionmaker, migrate
from services.billing.stripe_billing import StripeBilling
from services.billing.usage import Entitlements


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(settings.database_url)
        engine = create_engine(settings.database_url)
        app.state.settings = settings
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.storage = storage_from_settings(settings)
        app.state.temporal = TemporalConnector(settings)
        app.state.comfy = BackendPool(settings.comfyui_urls, request_timeout_s=5.0)
        app.state.encryptor = Encryptor.from_settings(settings)
        app.state.job_watcher = JobWatcher(app.state.sessionmaker)
        app.state.backlog = BacklogGauge(settings, app.state.temporal)
        app.state.entitlements = Entitlements(app.state.sessionmaker, settings)
        stripe = stripe_client(settings)
        app.state.billing = StripeBilling(stripe, app.state.sessionmaker, settings) if stripe else None
        yield
        await app.state.job_watcher.close()
        await app.state.comfy.close()
        await engine.dispose()

    app = FastAPI(title="Comfy Platform", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Durable ComfyUI jobs: a developer API and a creator product on Temporal.\n\n"
                              "The `/api/v1` routes take an API key, `Authorization: Bearer sk_...`: make one in the "
                              "developer console (`/creator/developers`), then press **Authorize** here and paste "
                              "it; **Try it out** sends it.",
                  dependencies=[Depends(storable_request)])
    install_error_handlers(app)
    app.add_middleware(JsonWithoutContentType)  # inside BodySizeLimit: an oversized body is refused before it
    app.add_middleware(BodySizeLimit, max_bytes=settings.MAX_REQUEST_BYTES)
    app.add_middleware(ServerErrors)  # added after BodySizeLimit, so outside it: it also catches what that raises
    app.add_middleware(SecurityHeaders, settings=settings)  # outside ServerErrors: its 500s get the headers too
    if settings.METRICS_ENABLED:
        install_metrics(app)  # outermost: times every request and sees every answer, errors of ours included
    if tracing_on():
        FastAPIInstrumentor.instrument_app(app, excluded_urls="/metrics,/api/health,/api/ready")
    app.include_router(health.router, prefix="/api")
    app.include_router(files.router, prefix="/api")
    for resource in (jobs, generate, uploads, catalog, usage):
        app.include_router(resource.router, prefix="/api/v1")
    # Everything under /creator/ is signed in by the session cookie: state-changing requests need its CSRF token.
    for resource in (creator_auth, creator, creator_photos, creator_settings, pages, billing,  # pages first: see billing_page
                     developers):
        app.include_router(resource.router, prefix="/creator", dependencies=[Depends(require_csrf)])
    install_pages(app)
    app.include_router(stripe_webhooks.router)
    install_openapi(app, settings)
    install_docs(app)

    @app.get("/", include_in_schema=False)
    async def read_root() -> JSONResponse:
        """Where to go from the bare address: the creator's dashboard, the API's docs, the health check."""
        return JSONResponse({"name": app.title, "version": app.version, "dashboard": "/creator/",
                             "docs": "/docs", "openapi": "/openapi.json", "api": "/api/v1", "health": "/api/health"})

    return app


class BodySizeLimit:
    """413 for a request body over `max_bytes`, announced (Content-Length) or streamed, before a route reads it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        # Buffered (the route would buffer it anyway), so a body that lies about its size is refused up front too.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Read what the client is still sending (up to a bound), so it sees the 413 rather than a reset connection.
        drained = 0
        while drained < 4 * self.max_bytes:
            message = await receive()
            drained += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = error_body("payload_too_large", f"request body is larger than {self.max_bytes} bytes",
                          {"max_bytes": self.max_bytes})
        await JSONResponse(body, 413)(scope, receive, send)
