"""/_drive/*: control endpoints for tests and benchmarks. Not part of Google's API; no token.

POST   /_drive/tokens                {"token": "...", "user": "sub"}  the token now acts for that user
DELETE /_drive/tokens/{token}        revoke it (401 from the next request on)
POST   /_drive/users/{user}/files    {"name", "mimeType", "parents": [id|"root"], "appProperties",
                                      "content_base64"}  a file (or folder) dropped in by the user,
                                      recorded in their changes feed; answers the full File
GET    /_drive/users/{user}/files    every file of the user (trashed too), full File resources
GET    /_drive/users/{user}/files/{id}/content   the bytes
GET    /_drive/view/{id}             the file shown in the browser (its bytes and type), whoever's it is: the
                                      dashboard's links to edited photos under make dev (Google's viewer
                                      would not know the file)
POST   /_drive/faults                {"status": 429, "times": 1, "method", "path_prefix", "kind",
                                      "user", "reason", "message", "retry_after"}  see faults.py
GET    /_drive/faults                the rules still armed
DELETE /_drive/faults                disarm all
GET    /_drive/stats                 {"requests", "by_kind", "users": {user: {kind: n}}, "unauthorized"}
DELETE /_drive/stats                 zero the counts
POST   /_drive/userinfo              {"url": "http://oidc/userinfo" | null}  accept (or stop accepting)
                                      the tokens of an OpenID Connect provider, without a restart
POST   /_drive/reset                 everything: files, tokens, faults, stats, uploads; the
                                      userinfo URL goes back to the start-up one
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from aiohttp import web

from . import metadata
from .errors import ApiError
from .faults import FaultRule, Stats
from .state import state_of
from .store import FOLDER

log = logging.getLogger("standins.drive.control")


def _refuse(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


async def register_token(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k] for k in ("token", "user")):
        return _refuse('body must be {"token": "...", "user": "..."}')
    state = state_of(request)
    state.auth.tokens[body["token"]] = body["user"]
    state.drive(body["user"])
    return web.json_response({"token": body["token"], "user": body["user"]})


async def revoke_token(request: web.Request) -> web.Response:
    state_of(request).auth.tokens.pop(request.match_info["token"], None)
    return web.Response(status=204)


async def seed_file(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict):
        return _refuse("body must be a JSON object")
    drive = state_of(request).drive(request.match_info["user"])
    encoded = body.pop("content_base64", None)
    try:
        content = base64.b64decode(encoded or "", validate=True)
        file = metadata.create(drive, body, None if body.get("mimeType") == FOLDER else content)
    except (binascii.Error, TypeError):
        return _refuse("content_base64 must be a base64 string")
    except ApiError as error:
        return error.response()
    return web.json_response(drive.resource(file))


async def list_all_files(request: web.Request) -> web.Response:
    drive = state_of(request).drive(request.match_info["user"])
    return web.json_response([drive.resource(f) for f in drive.files.values()])


async def read_content(request: web.Request) -> web.Response:
    drive = state_of(request).drive(request.match_info["user"])
    try:
        file = drive.get(request.match_info["file_id"])
    except ApiError as error:
        return error.response()
    if file.content is None:
        return _refuse("a folder has no content")
    return web.Response(body=file.content, content_type="application/octet-stream")


async def view_file(request: web.Request) -> web.Response:
    file_id = request.match_info["file_id"]
    for drive in list(state_of(request).drives.values()):
        try:
            file = drive.get(file_id)
        except ApiError:
            continue
        if file.content is None:
            return _refuse("a folder has no content")
        return web.Response(body=file.content, content_type=file.mime_type or "application/octet-stream",
                            headers={"Content-Disposition": "inline"})
    return web.Response(status=404, text="no such file in the test Drive (a restart of make dev empties it)")


async def add_fault(request: web.Request) -> web.Response:
    try:
        rule = FaultRule.from_json(await _body(request))
    except (TypeError, ValueError) as error:
        return _refuse(str(error))
    state_of(request).faults.rules.append(rule)
    log.warning("DRIVE TEST SERVER fault armed: %s", rule)
    return web.json_response(state_of(request).faults.as_list())


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).faults.as_list())


async def clear_faults(request: web.Request) -> web.Response:
    state_of(request).faults.rules.clear()
    return web.json_response([])


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).stats.as_dict())


async def reset_stats(request: web.Request) -> web.Response:
    state = state_of(request)
    state.stats = Stats()
    return web.json_response(state.stats.as_dict())


async def set_userinfo(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict) or not isinstance(body.get("url"), (str, type(None))):
        return _refuse('body must be {"url": "..."} or {"url": null}')
    state_of(request).auth.use_provider(body["url"])
    return web.json_response({"url": body["url"]})


async def reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    return web.Response(status=204)


ROUTES = [
    ("POST", "/_drive/tokens", register_token),
    ("DELETE", "/_drive/tokens/{token}", revoke_token),
    ("POST", "/_drive/users/{user}/files", seed_file),
    ("GET", "/_drive/users/{user}/files", list_all_files),
    ("GET", "/_drive/users/{user}/files/{file_id}/content", read_content),
    ("GET", "/_drive/view/{file_id}", view_file),
    ("POST", "/_drive/faults", add_fault),
    ("GET", "/_drive/faults", get_faults),
    ("DELETE", "/_drive/faults", clear_faults),
    ("GET", "/_drive/stats", get_stats),
    ("DELETE", "/_drive/stats", reset_stats),
    ("POST", "/_drive/userinfo", set_userinfo),
    ("POST", "/_drive/reset", reset),
]
