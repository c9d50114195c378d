"""The HTTP front end: create_app() builds the FastAPI app; its lifespan owns the long-lived clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.deps import TemporalConnector
from api.errors import install_error_handlers
from api.routes import files, health
from comfy_platform.comfyui.pool import BackendPool
from comfy_platform.secrets import Encryptor
from comfy_platform.settings import Settings, get_settings
from comfy_platform.storage import storage_from_settings
from db.session import create_engine, create_sessionmaker, migrate


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(settings.database_url)
        engine = create_engine(settings.database_url)
        app.state.settings = settings
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.storage = storage_from_settings(settings)
        app.state.temporal = TemporalConnector(settings.temporal_address, settings.TEMPORAL_NAMESPACE)
        app.state.comfy = BackendPool(settings.comfyui_urls, request_timeout_s=5.0)
        app.state.encryptor = Encryptor.from_settings(settings)
        yield
        await app.state.comfy.close()
        await engine.dispose()

    app = FastAPI(title="Comfy Platform", version="0.1.0", lifespan=lifespan,
                  description="Durable ComfyUI jobs: a developer API and a creator product on Temporal.")
    install_error_handlers(app)
    app.include_router(health.router, prefix="/api")
    app.include_router(files.router, prefix="/api")
    return app
