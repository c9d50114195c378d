"""create_app: the aiohttp application with Drive v3's routes and the /_drive/ controls.

Every API request goes through one middleware, in Google's order: the bearer token names the
user (401 otherwise), the request is counted for that user, an armed fault may answer instead,
and the handler's ApiError becomes Google's JSON error.
"""

from __future__ import annotations

from aiohttp import web

from . import control, routes_changes, routes_files, routes_revisions, routes_upload
from .errors import ApiError
from .state import CURRENT_USER, STATE, DriveConfig, DriveState

MAX_BODY = 1 << 30  # uploads are read whole into memory; 1 GiB is plenty for tests
KINDS = web.AppKey("drive_request_kinds", dict)


@web.middleware
async def api_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await _api(request, handler)
    finally:
        if request.method != "GET":
            request.app[STATE].save()  # the drives as they now are (when kept under a data dir)


async def _api(request: web.Request, handler) -> web.StreamResponse:
    kind = request.app[KINDS].get(request.match_info.route)
    if kind is None:  # /_drive/ controls, unknown paths
        return await handler(request)
    if kind in ("files.get", "revisions.get") and request.query.get("alt") == "media":
        kind = kind.replace(".get", ".download")
    state = request.app[STATE]
    try:
        try:
            user = await state.auth.user_for(request)
        except ApiError as error:
            if error.code == 401:
                state.stats.unauthorized += 1
            raise
        state.stats.count(user, kind)
        fault = state.faults.take(request.method, request.path, kind, user)
        if fault is not None:
            raise fault
        CURRENT_USER.set(user)
        return await handler(request)
    except ApiError as error:
        return error.response()


def create_app(config: DriveConfig | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[api_middleware])
    state = DriveState(config or DriveConfig())
    app[STATE] = state
    app[KINDS] = {}
    for method, path, handler, kind in (routes_files.ROUTES + routes_revisions.ROUTES + routes_upload.ROUTES
                                      + routes_changes.ROUTES):
        app[KINDS][app.router.add_route(method, path, handler)] = kind
    for method, path, handler in control.ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_get("/", _index)

    async def on_cleanup(app: web.Application) -> None:
        await state.auth.close()

    app.on_cleanup.append(on_cleanup)
    return app


async def _index(request: web.Request) -> web.Response:
    return web.Response(text="Google Drive v3 TEST SERVER (not Google). API under /drive/v3 and "
                             "/upload/drive/v3; controls under /_drive/.\n")
