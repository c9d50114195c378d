"""/drive/v3/files/{fileId}/revisions: list, get (metadata, or `alt=media` bytes with Range),
update (keepForever) and delete, for files with binary content.

Each content a file had is a revision (store.py); the file's `headRevisionId` names the current
one. A revision id the file does not have answers 404 "Revision not found", as Google; folders
have none to offer.
"""

from __future__ import annotations

from aiohttp import web

from . import fields, metadata
from .errors import ApiError, bad_request, invalid
from .routes_files import media
from .state import drive_of
from .store import DriveFile

DEFAULT_REVISION = "kind,id,mimeType,modifiedTime"
DEFAULT_REVISION_LIST = f"kind,nextPageToken,revisions({DEFAULT_REVISION})"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 200


def _binary_file(request: web.Request) -> DriveFile:
    file = drive_of(request).get(request.match_info["file_id"])
    if file.content is None:
        raise ApiError(403, "revisionsNotSupported", "The file does not support revisions.")
    return file


async def list_revisions(request: web.Request) -> web.Response:
    file, params = _binary_file(request), request.query
    selection = fields.select(params.get("fields"), DEFAULT_REVISION_LIST, "RevisionList")
    size = _page_size(params.get("pageSize"))
    token = params.get("pageToken")
    start = 0
    if token:
        if not (token.isascii() and token.isdigit()) or int(token) >= len(file.revisions):
            raise invalid("pageToken")
        start = int(token)
    page = file.revisions[start:start + size]
    body: dict = {"kind": "drive#revisionList",
                  "revisions": [drive_of(request).revision_resource(r) for r in page]}
    if start + size < len(file.revisions):
        body["nextPageToken"] = str(start + size)
    return web.json_response(fields.project(body, selection))


async def get_revision(request: web.Request) -> web.Response:
    file = _binary_file(request)
    revision = file.revision(request.match_info["revision_id"])
    if request.query.get("alt") == "media":
        return media(request, revision.content, revision.mime_type)
    return _render(request, revision)


async def update_revision(request: web.Request) -> web.Response:
    file = _binary_file(request)
    revision = file.revision(request.match_info["revision_id"])
    body = await metadata.read_json(request)
    keep = body.get("keepForever")
    if keep is not None and not isinstance(keep, bool):
        raise bad_request("keepForever must be a boolean.")
    if keep is not None:
        revision.keep_forever = keep
    return _render(request, revision)


async def delete_revision(request: web.Request) -> web.Response:
    drive = drive_of(request)
    file = _binary_file(request)
    drive.delete_revision(file, request.match_info["revision_id"])
    return web.Response(status=204)


def _render(request: web.Request, revision) -> web.Response:
    selection = fields.select(request.query.get("fields"), DEFAULT_REVISION, "Revision")
    return web.json_response(fields.project(drive_of(request).revision_resource(revision), selection))


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise invalid("pageSize")
    return min(int(raw), MAX_PAGE_SIZE)


ROUTES = [  # (method, path, handler, request kind for stats and faults)
    ("GET", "/drive/v3/files/{file_id}/revisions", list_revisions, "revisions.list"),
    ("GET", "/drive/v3/files/{file_id}/revisions/{revision_id}", get_revision, "revisions.get"),
    ("PATCH", "/drive/v3/files/{file_id}/revisions/{revision_id}", update_revision, "revisions.update"),
    ("DELETE", "/drive/v3/files/{file_id}/revisions/{revision_id}", delete_revision, "revisions.delete"),
]
