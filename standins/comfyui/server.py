"""create_app: the aiohttp application with ComfyUI's routes (bare and under /api)."""

from __future__ import annotations

from aiohttp import web

from . import control, jobs, routes_comfy, routes_files
from .config import EmulatorConfig
from .state import STATE, EmulatorState
from .stats import Stats
from .versions import MAX_UPLOAD_SIZE


def create_app(config: EmulatorConfig, *, stats: Stats | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_UPLOAD_SIZE)
    state = EmulatorState(config, stats)
    app[STATE] = state
    state.dirs.prepare()
    behaviour = state.behaviour

    # ComfyUI answers every route both bare and under /api; /api/jobs exists only under /api.
    features = _unless(behaviour.features is not None, routes_comfy.FEATURES_ROUTES)
    for method, path, handler in routes_comfy.ROUTES + features + routes_files.ROUTES:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/api" + path, handler)
    for method, path, handler in _unless(behaviour.jobs_api, jobs.ROUTES) + control.ROUTES:
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
            state.stats.finished(item, "lost")
        await state.hub.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


def _unless(present: bool, routes: list) -> list:
    """Routes an older ComfyUI lacks still match, to answer its bare 404 (empty body, as seen on 0.3.64)."""
    return routes if present else [(method, path, _absent) for method, path, _ in routes]


async def _absent(request: web.Request) -> web.Response:
    return web.Response(status=404)


async def _index(request: web.Request) -> web.Response:
    return web.Response(text="<html><body><h1>ComfyUI EMULATOR (not a real ComfyUI)</h1>"
                             "<p>comfy-platform test double. See /system_stats.</p></body></html>",
                        content_type="text/html")
