"""DriveClient: the platform's async face of google-api-python-client's Drive v3.

The service is built from the discovery document the library bundles (no network), with its
root URL rewritten to GOOGLE_DRIVE_URL: `client_options={"api_endpoint": ...}` alone would leave
media uploads aimed at https://HOST/upload/..., which a plain-http test server cannot answer.

googleapiclient is blocking and its httplib2.Http is not thread-safe, so each client owns one
Http and runs every request in a worker thread under a lock; downloads and uploads go chunk by
chunk, so a cancelled activity stops between chunks. The library refreshes the access token
itself (on expiry, or once on a 401) and updates `credentials` in place: callers persist
`client.credentials.token` afterwards if it changed. It makes no retries (num_retries=0):
Temporal retries activities, with the hints `errors.translate` gives.
"""

from __future__ import annotations

import asyncio
import functools
import json
import pathlib
import threading
from dataclasses import dataclass
from typing import Any, Callable

import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.http import MediaFileUpload, MediaIoBaseDownload

from .errors import TRANSLATED, DriveFileTooLarge, translate

FOLDER = "application/vnd.google-apps.folder"
FILE_FIELDS = ("id, name, mimeType, parents, trashed, version, headRevisionId, size, md5Checksum, createdTime, "
               "modifiedTime, appProperties, webViewLink")
UPLOAD_CHUNK_UNIT = 256 * 1024  # Drive wants every chunk but the last to be a multiple of this


@dataclass
class FilesPage:
    files: list[dict]
    next_page_token: str | None


@dataclass
class ChangesPage:
    """`changes` items: changeType, fileId, removed, time and (unless removed) file."""
    changes: list[dict]
    next_page_token: str | None
    new_start_page_token: str | None  # only on the last page: where the next poll starts


@functools.cache
def _discovery_document(api_root: str) -> str:
    document = json.loads(get_static_doc("drive", "v3"))
    document["rootUrl"] = document["mtlsRootUrl"] = api_root
    return json.dumps(document)


def build_drive_service(credentials: Credentials, api_root: str, timeout_s: float = 60.0) -> Any:
    """A googleapiclient Drive v3 resource on its own Http, aimed at `api_root`."""
    http = httplib2.Http(timeout=timeout_s)
    http.redirect_codes = http.redirect_codes - {308}  # Drive's 308 means "resume incomplete"
    authorized = google_auth_httplib2.AuthorizedHttp(credentials, http=http)
    root = api_root if api_root.endswith("/") else api_root + "/"
    return build_from_document(_discovery_document(root), http=authorized)


def quote(value: str) -> str:
    """A string literal for a Drive query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class DriveClient:
    def __init__(self, credentials: Credentials, api_root: str, *, timeout_s: float = 60.0) -> None:
        self.credentials = credentials
        self._service = build_drive_service(credentials, api_root, timeout_s)
        self._lock = threading.Lock()  # a thread lock: it still holds if an awaiting task is cancelled

    def close(self) -> None:
        self._service.close()

    # --- reads
    async def get_file(self, file_id: str) -> dict:
        return await self._call(lambda s: s.files().get(fileId=file_id, fields=FILE_FIELDS))

    async def list_folders(self, parent_id: str | None = None, page_size: int = 100) -> list[dict]:
        """Non-trashed folders in `parent_id`, or all the user's folders; every page, by name."""
        q = f"mimeType = '{FOLDER}' and trashed = false"
        if parent_id is not None:
            q += f" and {quote(parent_id)} in parents"
        folders: list[dict] = []
        token: str | None = None
        while True:
            page = await self._list(q, "id, name, parents", page_size, token, order_by="name")
            folders += page.files
            token = page.next_page_token
            if token is None:
                return folders

    async def list_folder_files(self, folder_id: str, page_token: str | None = None, page_size: int = 100,
                                *, include_folders: bool = False) -> FilesPage:
        """One page of the folder's non-trashed children, oldest first; sub-folders only if asked."""
        q = f"{quote(folder_id)} in parents and trashed = false"
        if not include_folders:
            q += f" and mimeType != '{FOLDER}'"
        return await self._list(q, FILE_FIELDS, page_size, page_token)

    async def find_by_app_property(self, folder_id: str, key: str, value: str) -> dict | None:
        q = (f"{quote(folder_id)} in parents and trashed = false and "
             f"appProperties has {{ key={quote(key)} and value={quote(value)} }}")
        page = await self._list(q, FILE_FIELDS, 10, None)
        return page.files[0] if page.files else None

    async def start_page_token(self) -> str:
        body = await self._call(lambda s: s.changes().getStartPageToken(fields="startPageToken"))
        return body["startPageToken"]

    async def list_changes(self, page_token: str, page_size: int = 100) -> ChangesPage:
        fields = f"nextPageToken, newStartPageToken, changes(changeType, fileId, removed, time, file({FILE_FIELDS}))"
        body = await self._call(lambda s: s.changes().list(
            pageToken=page_token, pageSize=page_size, includeRemoved=True, spaces="drive", fields=fields))
        return ChangesPage(body.get("changes", []), body.get("nextPageToken"), body.get("newStartPageToken"))

    async def download(self, file_id: str, dest: pathlib.Path, chunk_size: int = 4 * 1024 * 1024,
                       max_bytes: int | None = None, *, revision_id: str | None = None) -> int:
        """Stream the file to `dest` in Range requests; bytes written. With `revision_id`, the bytes of
        that revision (revisions.get, alt=media), whatever the file holds now. A failed download leaves
        no `dest` behind (bytes go to `dest`.part, renamed at the end). Past `max_bytes` it stops with
        DriveFileTooLarge, within one chunk of the limit."""
        part = dest.with_name(dest.name + ".part")
        if revision_id is None:
            request = self._service.files().get_media(fileId=file_id)
        else:
            request = self._service.revisions().get_media(fileId=file_id, revisionId=revision_id)
        handle = await asyncio.to_thread(part.open, "wb")
        try:
            downloader = MediaIoBaseDownload(handle, request, chunksize=chunk_size)
            done, written = False, 0
            while not done:
                status, done = await self._run(downloader.next_chunk, num_retries=0)
                written = status.resumable_progress
                if max_bytes is not None and written > max_bytes:
                    raise DriveFileTooLarge(f"file {file_id} is larger than {max_bytes} bytes", max_bytes=max_bytes)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(part.replace, dest)
            return written
        finally:
            if not handle.closed:
                await asyncio.to_thread(handle.close)
                await asyncio.to_thread(part.unlink, missing_ok=True)

    # --- writes
    async def find_or_create_folder(self, name: str, parent_id: str) -> dict:
        """The non-trashed folder `name` in `parent_id`, created if missing. Two callers racing
        may both create one; both then keep the oldest and the loser deletes its own, so one
        folder remains."""
        existing = await self._folders_named(name, parent_id)
        if existing:
            return existing[0]
        created = await self._call(lambda s: s.files().create(
            body={"name": name, "mimeType": FOLDER, "parents": [parent_id]}, fields=FILE_FIELDS))
        existing = await self._folders_named(name, parent_id)
        winner = existing[0] if existing else created
        if winner["id"] != created["id"]:
            await self._call(lambda s: s.files().delete(fileId=created["id"]))
        return winner

    async def upload(self, folder_id: str, name: str, path: pathlib.Path, mime_type: str,
                     app_properties: dict[str, str], *, chunk_size: int = 8 * 1024 * 1024) -> dict:
        """A resumable upload into the folder; the new file's metadata."""
        if chunk_size % UPLOAD_CHUNK_UNIT:
            raise ValueError(f"chunk_size must be a multiple of {UPLOAD_CHUNK_UNIT}")
        media = await asyncio.to_thread(MediaFileUpload, str(path), mimetype=mime_type,
                                        chunksize=chunk_size, resumable=True)
        try:
            request = self._service.files().create(
                body={"name": name, "parents": [folder_id], "mimeType": mime_type, "appProperties": app_properties},
                media_body=media, fields=FILE_FIELDS)
            response = None
            while response is None:
                _, response = await self._run(request.next_chunk, num_retries=0)
            return response
        finally:
            await asyncio.to_thread(media.stream().close)

    # --- plumbing
    async def _folders_named(self, name: str, parent_id: str) -> list[dict]:
        q = f"name = {quote(name)} and {quote(parent_id)} in parents and mimeType = '{FOLDER}' and trashed = false"
        page = await self._list(q, FILE_FIELDS, 100, None)
        return sorted(page.files, key=lambda f: (f.get("createdTime", ""), f["id"]))

    async def _list(self, q: str, file_fields: str, page_size: int, page_token: str | None,
                    order_by: str = "createdTime") -> FilesPage:
        body = await self._call(lambda s: s.files().list(
            q=q, fields=f"nextPageToken, files({file_fields})", pageSize=page_size, pageToken=page_token,
            orderBy=order_by, spaces="drive"))
        return FilesPage(body.get("files", []), body.get("nextPageToken"))

    async def _call(self, build: Callable[[Any], Any]) -> Any:
        """Build a request from the service and execute it, in a thread."""
        return await self._run(lambda: build(self._service).execute(num_retries=0))

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(self._locked, fn, *args, **kwargs)
        except TRANSLATED as error:
            raise translate(error) from error

    def _locked(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return fn(*args, **kwargs)
