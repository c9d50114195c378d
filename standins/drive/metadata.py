"""File metadata from request bodies, shared by files.create/update and the upload routes."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from . import fields
from .errors import ApiError, bad_request, root_is_read_only
from .store import DriveFile, UserDrive

APP_PROPERTY_BYTES = 124  # Drive's limit on key + value, UTF-8


def parse_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "parseError", "Parse Error") from None
    if not isinstance(body, dict):
        raise ApiError(400, "parseError", "Parse Error")
    return body


async def read_json(request: web.Request) -> dict[str, Any]:
    return parse_json(await request.read())


def render(request: web.Request, drive: UserDrive, file: DriveFile, selection: str | None = None) -> web.Response:
    """The File resource cut down to `fields` (or the selection an upload session was opened with)."""
    text = selection if selection is not None else request.query.get("fields")
    tree = fields.select(text, fields.DEFAULT_FILE, "File")
    return web.json_response(fields.project(drive.resource(file), tree))


def create(drive: UserDrive, body: dict[str, Any], content: bytes | None = None,
           media_type: str = "application/octet-stream") -> DriveFile:
    name = _string(body, "name") or "Untitled"
    mime_type = _string(body, "mimeType") or media_type
    parents = body.get("parents") or []
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise bad_request("parents must be a list of folder ids.")
    properties = {k: v for k, v in _app_properties(body).items() if v is not None}
    return drive.create(name, mime_type, parents, content, properties)


def update(drive: UserDrive, file: DriveFile, body: dict[str, Any], query: Any,
           content: bytes | None = None) -> None:
    """Apply a files.update (metadata, parents, optional new content) and record one change.
    Everything is checked before anything changes, so a refused update leaves the file as it was."""
    if file is drive.root:
        raise root_is_read_only()
    name, mime_type = _string(body, "name"), _string(body, "mimeType")
    properties = _app_properties(body)
    moving = "addParents" in query or "removeParents" in query
    parents = _new_parents(drive, file, query.get("addParents", ""), query.get("removeParents", ""))
    if content is not None and file.is_folder:
        raise bad_request("A folder cannot have content.")
    file.name, file.mime_type, file.parents = name or file.name, mime_type or file.mime_type, parents
    for key, value in properties.items():
        if value is None:
            file.app_properties.pop(key, None)  # null clears, as documented for update
        else:
            file.app_properties[key] = value
    if content is not None:
        file.set_content(content)
    if set(body) - {"trashed"} or content is not None or moving:
        file.modified = time.time()
    trashed = body.get("trashed")
    if isinstance(trashed, bool) and trashed != file.explicitly_trashed:
        drive.set_trashed(file, trashed)
    else:
        drive.record(file)


def _new_parents(drive: UserDrive, file: DriveFile, add: str, remove: str) -> list[str]:
    removing = {drive.resolve_id(p) for p in remove.split(",") if p}
    adding = [drive.folder(p).id for p in add.split(",") if p]
    parents = [p for p in file.parents if p not in removing]
    parents += [p for p in adding if p not in parents]
    if len(parents) > 1:
        raise ApiError(403, "cannotAddParent", "Increasing the number of parents is not allowed.")
    if file.is_folder and adding:
        below = {item.id for item in drive.descendants(file)} | {file.id}
        if any(p in below for p in adding):
            raise bad_request("A folder cannot be moved into itself or its descendants.")
    return parents


def _string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string.")
    return value


def _app_properties(body: dict[str, Any]) -> dict[str, str | None]:
    properties = body.get("appProperties") or {}
    if not isinstance(properties, dict):
        raise bad_request("appProperties must be an object.")
    for key, value in properties.items():
        if value is not None and not isinstance(value, str):
            raise bad_request("appProperties values must be strings.")
        try:
            size = len(key.encode()) + len((value or "").encode())
        except UnicodeEncodeError:  # a lone surrogate, from a "\\ud800" escape in the JSON
            raise bad_request("appProperties keys and values must be valid Unicode.") from None
        if size > APP_PROPERTY_BYTES:
            raise bad_request(f"The size of the property {key!r} exceeds {APP_PROPERTY_BYTES} bytes (key + value).")
    return properties
