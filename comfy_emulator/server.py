"""create_app: the aiohttp application with ComfyUI's routes (bare and under /api)."""

from __future__ import annotations

from aiohttp import web

from . import control, jobs, routes_comfy, routes_files
from .config import EmulatorConfig
from .faults import Stats
from .state import FEATURES, STATE, EmulatorState

def create_app(config: EmulatorConfig, *, stats: Stats | None = None) -> web.Application:
    app = web.Application(client_max_size=FEATURES["max_upload_size"])
    state = EmulatorState(config, stats)
    app[STATE] = state
    state.dirs.prepare()

    # ComfyUI answers every route both bare and under /api; /api/jobs exists only under /api.
    for method, path, handler in routes_comfy.ROUTES + routes_files.ROUTES:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/api" + path, handler)
    for method, path, handler in jobs.ROUTES + control.ROUTES:
        app.router.add_route(method, path, handler)
    for prefix in ("", "/api"):
        app.router.add_get(prefix + "/ws", state.hub.handle)
    app.router.add_get("/", _index)

    async def on_startup(app: web.Application) -> None:
        state.hub.start()
        state.executor.start()

    async def on_shutdown(app: web.Application) -> None:
        await state.hub.drop_all()

    async def on_cleanup(app: web.Application) -> None:
        await state.executor.stop()
        for item in state.queue.current()[1]:  # pending work dies with the process
            state.stats.finished(item[1], "lost")
        await state.hub.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


async def _index(request: web.Request) -> web.Response:
    return web.Response(text="<html><body><h1>ComfyUI EMULATOR (not a real ComfyUI)</h1>"
                             "<p>comfy-platform test double. See /system_stats.</p></body></html>",
                        content_type="text/html")
