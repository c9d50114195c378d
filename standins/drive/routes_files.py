"""/drive/v3/files: list, get (metadata or `alt=media` bytes, with Range), create (metadata
only, e.g. folders), update (metadata and parents) and delete.

files.list pages through a snapshot: the first request sorts the matching ids and the page
token stands for the rest of them, re-checked against the query when served, so files created
while a caller pages do not shift pages under it. A page token can be read again (a retried
request gets the same page); an unknown one answers 400 'Invalid Value' for pageToken, as Google.
"""

from __future__ import annotations

from aiohttp import web

from . import fields, metadata, query
from .errors import ApiError, invalid
from .state import Cursor, current_user, drive_of, state_of
from .store import DriveFile

MAX_PAGE_SIZE = 1000  # larger values are coerced to this, as documented
_ORDER_KEYS = {
    "createdTime": lambda f: f.created,
    "modifiedTime": lambda f: f.modified,
    "name": lambda f: f.name,
    "name_natural": lambda f: f.name,
    "folder": lambda f: not f.is_folder,  # folders first
}


def page_size(raw: str | None, default: int = 100) -> int:
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError:
        raise invalid("pageSize") from None
    if size < 1:
        raise invalid("pageSize")
    return min(size, MAX_PAGE_SIZE)


def _sorted(files: list[DriveFile], order_by: str | None) -> list[DriveFile]:
    ordered = sorted(files, key=lambda f: f.seq)
    for clause in reversed([c.strip() for c in (order_by or "").split(",") if c.strip()]):
        key, _, direction = clause.partition(" ")
        if key not in _ORDER_KEYS or direction.strip() not in ("", "asc", "desc"):
            raise invalid("orderBy")
        ordered.sort(key=_ORDER_KEYS[key], reverse=direction.strip() == "desc")
    return ordered


async def list_files(request: web.Request) -> web.Response:
    state, user = state_of(request), current_user()
    drive, params = state.drive(user), request.query
    size = page_size(params.get("pageSize"))
    selection = fields.select(params.get("fields"), fields.DEFAULT_FILE_LIST, "FileList")
    token = params.get("pageToken")
    if token:
        cursor = state.cursors.get(token)
        if cursor is None or cursor.user != user:
            raise invalid("pageToken")
        predicate = cursor.predicate
        found = [f for f in (drive.files.get(i) for i in cursor.ids) if f is not None and predicate(f, drive)]
    else:
        predicate = query.parse(params["q"]) if params.get("q", "").strip() else (lambda f, d: True)
        found = _sorted([f for f in drive.files.values() if predicate(f, drive)], params.get("orderBy"))
    page, rest = found[:size], found[size:]
    body: dict = {"kind": "drive#fileList", "incompleteSearch": False,
                  "files": [drive.resource(f) for f in page]}
    if rest:
        body["nextPageToken"] = state.keep_cursor(Cursor(user, [f.id for f in rest], predicate))
    return web.json_response(fields.project(body, selection))


async def get_file(request: web.Request) -> web.Response:
    drive = drive_of(request)
    file = drive.get(request.match_info["file_id"])
    if request.query.get("alt") == "media":
        if file.content is None:
            raise ApiError(403, "fileNotDownloadable", "Only files with binary content can be downloaded.")
        return media(request, file.content, file.mime_type)
    return metadata.render(request, drive, file)


def media(request: web.Request, content: bytes, mime_type: str) -> web.Response:
    """The bytes of an `alt=media` request: all of them, or the `Range` asked for (206)."""
    data, total = memoryview(content), len(content)
    headers = {"Content-Type": mime_type, "Accept-Ranges": "bytes"}
    header = request.headers.get("Range")
    if header is None:
        return web.Response(body=data, headers=headers)
    try:
        span = _range(header, total)
    except ValueError:  # a malformed Range is ignored, as HTTP says
        return web.Response(body=data, headers=headers)
    if span is None:
        headers["Content-Range"] = f"bytes */{total}"
        return web.Response(status=416, headers=headers)
    first, last = span
    headers["Content-Range"] = f"bytes {first}-{last}/{total}"
    return web.Response(status=206, body=data[first:last + 1], headers=headers)


def _range(header: str, total: int) -> tuple[int, int] | None:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` as inclusive offsets; None if not satisfiable;
    ValueError if malformed."""
    unit, _, spec = header.partition("=")
    first_text, dash, last_text = spec.strip().partition("-")
    if unit.strip() != "bytes" or not dash or "," in spec:
        raise ValueError(header)
    if not first_text:
        first, last = max(0, total - int(last_text)), total - 1
    else:
        first = int(first_text)
        last = min(int(last_text), total - 1) if last_text else total - 1
    if first >= total or first > last:
        return None
    return first, last


async def create_file(request: web.Request) -> web.Response:
    drive = drive_of(request)
    file = metadata.create(drive, await metadata.read_json(request))
    return metadata.render(request, drive, file)


async def update_file(request: web.Request) -> web.Response:
    drive = drive_of(request)
    file = drive.get(request.match_info["file_id"])
    metadata.update(drive, file, await metadata.read_json(request), request.query)
    return metadata.render(request, drive, file)


async def delete_file(request: web.Request) -> web.Response:
    drive = drive_of(request)
    drive.delete(drive.get(request.match_info["file_id"]))
    return web.Response(status=204)


ROUTES = [  # (method, path, handler, request kind for stats and faults)
    ("GET", "/drive/v3/files", list_files, "files.list"),
    ("POST", "/drive/v3/files", create_file, "files.create"),
    ("GET", "/drive/v3/files/{file_id}", get_file, "files.get"),
    ("PATCH", "/drive/v3/files/{file_id}", update_file, "files.update"),
    ("DELETE", "/drive/v3/files/{file_id}", delete_file, "files.delete"),
]
