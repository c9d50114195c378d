"""/drive/v3/changes: getStartPageToken and list.

A page token is a change id: the start page token is the id the next change will get, and a
page lists the changes from its token on. The last page carries `newStartPageToken` (where the
next poll starts) instead of `nextPageToken`. A token this server never handed out (e.g. one
kept from before a reset) answers 400 'Invalid Value' for pageToken, as Google does for an
invalid token, so a caller can fall back to a full listing.
"""

from __future__ import annotations

from aiohttp import web

from . import fields
from .errors import ApiError, invalid
from .routes_files import page_size
from .state import drive_of
from .store import Change, UserDrive, rfc3339


async def start_page_token(request: web.Request) -> web.Response:
    drive = drive_of(request)
    body = {"kind": "drive#startPageToken", "startPageToken": str(drive.next_change_id)}
    selection = fields.select(request.query.get("fields"), "kind,startPageToken", "StartPageToken")
    return web.json_response(fields.project(body, selection))


async def list_changes(request: web.Request) -> web.Response:
    drive = drive_of(request)
    params = request.query
    if "pageToken" not in params:
        raise ApiError(400, "required", "Required parameter: pageToken", location="pageToken")
    start = _change_id(params["pageToken"], drive)
    size = page_size(params.get("pageSize"))
    selection = fields.select(params.get("fields"), fields.DEFAULT_CHANGE_LIST, "ChangeList")
    include_removed = params.get("includeRemoved", "true").lower() != "false"
    changes = [c for c in drive.changes_since(start) if include_removed or not c.removed]
    page, rest = changes[:size], changes[size:]
    body: dict = {"kind": "drive#changeList", "changes": [_change(drive, c) for c in page]}
    if rest:
        body["nextPageToken"] = str(rest[0].id)
    else:
        body["newStartPageToken"] = str(drive.next_change_id)
    return web.json_response(fields.project(body, selection))


def _change_id(token: str, drive: UserDrive) -> int:
    if not (token.isascii() and token.isdigit()) or not 1 <= int(token) <= drive.next_change_id:
        raise invalid("pageToken")
    return int(token)


def _change(drive: UserDrive, change: Change) -> dict:
    body = {"kind": "drive#change", "changeType": "file", "type": "file", "fileId": change.file_id,
            "removed": change.removed, "time": rfc3339(change.time)}
    file = drive.files.get(change.file_id)
    if not change.removed and file is not None:
        body["file"] = drive.resource(file)
    return body


ROUTES = [
    ("GET", "/drive/v3/changes/startPageToken", start_page_token, "changes.getStartPageToken"),
    ("GET", "/drive/v3/changes", list_changes, "changes.list"),
]
