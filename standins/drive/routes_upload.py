"""/upload/drive/v3/files: files.create and files.update with content.

uploadType=media (bytes only), multipart (multipart/related: JSON metadata, then the bytes) or
resumable: the opening POST/PATCH answers 200 with a `Location` (the same URL plus upload_id);
each PUT to it carries `Content-Range: bytes a-b/total` and answers 308 with `Range: bytes=0-N`
(the bytes held so far) until the last one, which answers 200 with the file. `bytes */total`
asks how far the upload got, which is how the client resumes after a failed chunk.
"""

from __future__ import annotations

import re
from email.message import Message

from aiohttp import web

from . import metadata
from .errors import ApiError, bad_request, invalid
from .state import UploadSession, current_user, drive_of, state_of
from .store import DriveFile

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")


async def create_with_content(request: web.Request) -> web.Response:
    return await _upload(request, None)


async def update_with_content(request: web.Request) -> web.Response:
    drive = drive_of(request)
    return await _upload(request, drive.get(request.match_info["file_id"]))


async def _upload(request: web.Request, file: DriveFile | None) -> web.Response:
    upload_type = request.query.get("uploadType")
    if upload_type == "resumable":
        return await _open_session(request, file)
    if upload_type == "multipart":
        body, content, media_type = await _multipart(request)
    elif upload_type == "media":
        body, content, media_type = {}, await request.read(), request.content_type
    else:
        raise invalid("uploadType")
    drive = drive_of(request)
    if file is None:
        file = metadata.create(drive, body, content, media_type)
    else:
        metadata.update(drive, file, body, request.query, content)
    return metadata.render(request, drive, file)


async def _multipart(request: web.Request) -> tuple[dict, bytes, str]:
    parts = _related_parts(request.headers.get("Content-Type", ""), await request.read())
    if len(parts) != 2:
        raise bad_request("Malformed multipart body.")
    (_, raw_meta), (media_headers, content) = parts
    return metadata.parse_json(raw_meta), content, media_headers.get("content-type", "application/octet-stream")


def _related_parts(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/related body: (lower-cased headers, payload) each.

    googleapiclient writes it with Python's email generator, which ends lines with a bare LF;
    Google accepts that and so must this (aiohttp's multipart reader wants CRLF). The line
    break before a delimiter belongs to the delimiter (RFC 2046), so payload bytes stay exact.
    """
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/related" or not isinstance(boundary, str):
        raise bad_request("Malformed multipart body.")
    pieces = body.split(b"--" + boundary.encode())[1:]
    newline = b"\r\n" if pieces and pieces[0].startswith(b"\r\n") else b"\n"  # one style per body
    parts = []
    for piece in pieces:
        if piece.startswith(b"--"):
            break  # the closing delimiter
        if not piece.startswith(newline) or not piece.endswith(newline):
            raise bad_request("Malformed multipart body.")
        piece = piece[len(newline):-len(newline)]
        ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := piece.find(sep)) >= 0]
        if not ends:
            raise bad_request("Malformed multipart body.")
        at, size = min(ends)
        headers = {}
        for line in piece[:at].decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, piece[at + size:]))
    return parts


async def _open_session(request: web.Request, file: DriveFile | None) -> web.Response:
    state, user = state_of(request), current_user()
    body = await metadata.read_json(request)
    drive = state.drive(user)
    parents = body.get("parents") if file is None else None
    for parent in parents if isinstance(parents, list) else []:
        drive.folder(str(parent))  # refuse a missing parent now, not after the last chunk
    length = request.headers.get("X-Upload-Content-Length")
    if length is not None and not (length.isascii() and length.isdigit()):
        raise invalid("X-Upload-Content-Length")
    session = UploadSession(
        user=user, file_id=None if file is None else file.id, metadata=body,
        mime_type=request.headers.get("X-Upload-Content-Type") or "application/octet-stream",
        total=int(length) if length is not None else None, params=dict(request.query))
    upload_id = state.keep_upload(session)
    return web.Response(status=200, headers={"Location": str(request.url.update_query(upload_id=upload_id))})


async def put_chunk(request: web.Request) -> web.Response:
    state, user = state_of(request), current_user()
    upload_id = request.query.get("upload_id", "")
    session = state.uploads.get(upload_id)
    if session is None or session.user != user:
        raise ApiError(404, "notFound", "Upload session not found or expired.")
    data = await request.read()
    header = request.headers.get("Content-Range")
    if header is None:  # the whole (rest of the) content in one request
        session.data += data
        session.total = len(session.data)
    else:
        _take_chunk(session, header.strip(), data)
    held = len(session.data)
    if session.total is None or held < session.total:
        headers = {"Range": f"bytes=0-{held - 1}"} if held else {}
        return web.Response(status=308, headers=headers)
    if held > session.total:
        raise bad_request("More bytes were sent than the upload's declared size.")
    del state.uploads[upload_id]
    return _finish(request, session)


def _take_chunk(session: UploadSession, header: str, data: bytes) -> None:
    match = _CONTENT_RANGE.match(header)
    if match is None:
        raise bad_request(f"Invalid Content-Range header: {header}")
    first, last, total = match.groups()
    if total != "*":
        if session.total is not None and int(total) != session.total:
            raise bad_request("The upload's total size changed.")
        session.total = int(total)
    if first is None:  # `bytes */total`: a status query
        return
    first, last = int(first), int(last)
    if last - first + 1 != len(data):
        raise bad_request("Content-Range does not match the body length.")
    held = len(session.data)
    if first <= held:  # a chunk starting beyond what is held is ignored; the 308 says where to resume
        session.data += data[held - first:]


def _finish(request: web.Request, session: UploadSession) -> web.Response:
    drive = state_of(request).drive(session.user)
    content = bytes(session.data)
    if session.file_id is None:
        file = metadata.create(drive, session.metadata, content, session.mime_type)
    else:
        file = drive.get(session.file_id)
        metadata.update(drive, file, session.metadata, session.params, content)
    return metadata.render(request, drive, file, session.params.get("fields"))


ROUTES = [
    ("POST", "/upload/drive/v3/files", create_with_content, "files.create"),
    ("PATCH", "/upload/drive/v3/files/{file_id}", update_with_content, "files.update"),
    ("PUT", "/upload/drive/v3/files", put_chunk, "upload.chunk"),
    ("PUT", "/upload/drive/v3/files/{file_id}", put_chunk, "upload.chunk"),
]
