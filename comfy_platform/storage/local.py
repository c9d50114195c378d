"""Blobs on local disk, served through expiring HMAC-signed API URLs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from comfy_platform.storage.base import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    ByteStream,
    InvalidSignature,
    ObjectNotFound,
    Storage,
    StoredObject,
    StreamSource,
    iter_chunks,
    validate_key,
)


def sign_url(key: str, expires: int, secret: str, filename: str | None = None) -> str:
    # Newlines separate the fields so ("a1", 23) and ("a", 123) sign differently; keys cannot contain one.
    message = f"{key}\n{expires}" + (f"\n{filename}" if filename is not None else "")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_signed_url(
    key: str,
    expires: int | str,
    sig: str,
    secret: str,
    now: float | None = None,
    filename: str | None = None,
) -> bool:
    """True when sig was made by sign_url for these values and `expires` (unix seconds) has not passed."""
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return False
    if expires_at < (time.time() if now is None else now):
        return False
    expected = sign_url(key, expires_at, secret, filename).encode()
    return hmac.compare_digest(expected, str(sig).encode())


class LocalStorage(Storage):
    """Objects at root/<key>; content types in root/.meta, partial writes in root/.tmp (keys cannot reach dot
    names), so a reader never sees a half-written file: each write is a temp file renamed into place."""

    def __init__(self, root: Path | str, base_url: str, secret: str) -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")
        self._secret = secret

    # --- writes

    async def put_file(self, key: str, path: Path | str, content_type: str = DEFAULT_CONTENT_TYPE) -> StoredObject:
        target = self._path(key)

        def copy() -> StoredObject:
            with open(path, "rb") as src:
                return self._write_atomically(key, target, content_type, lambda dst: shutil.copyfileobj(src, dst))

        return await asyncio.to_thread(copy)

    async def put_bytes(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> StoredObject:
        target = self._path(key)
        return await asyncio.to_thread(self._write_atomically, key, target, content_type, lambda dst: dst.write(data))

    async def put_stream(
        self, key: str, source: StreamSource, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        target = self._path(key)
        tmp = await asyncio.to_thread(self._temp_file)
        try:
            async for chunk in iter_chunks(source):
                await asyncio.to_thread(tmp.write, chunk)
            return await asyncio.to_thread(self._commit, key, target, content_type, tmp)
        finally:
            await asyncio.to_thread(self._discard, tmp)

    async def delete(self, key: str) -> None:
        target = self._path(key)

        def remove() -> None:
            target.unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    # --- reads

    async def get_to_file(self, key: str, path: Path | str) -> StoredObject:
        source = self._path(key)
        dest = Path(path)

        def copy() -> StoredObject:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
            try:
                with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK_SIZE)
                os.replace(tmp_name, dest)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
                Path(tmp_name).unlink(missing_ok=True)
                raise ObjectNotFound(key) from exc
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            return StoredObject(key, dest.stat().st_size, self._content_type(key))

        return await asyncio.to_thread(copy)

    async def open_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> ByteStream:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(key) from exc
        return ByteStream(lambda: handle.read(chunk_size), handle.close)

    async def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)

        def look() -> StoredObject | None:
            try:
                info = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                return None
            if not path.is_file():
                return None
            return StoredObject(key, info.st_size, self._content_type(key))

        return await asyncio.to_thread(look)

    async def url(self, key: str, expires_s: int, filename: str | None = None) -> str:
        validate_key(key)
        expires = int(time.time()) + int(expires_s)
        query = {"expires": expires, "sig": sign_url(key, expires, self._secret, filename)}
        if filename is not None:
            query["filename"] = filename
        return f"{self.base_url}/api/files/{quote(key, safe='/')}?{urlencode(query)}"

    def path_for_signed_url(
        self, key: str, expires: int | str, sig: str, filename: str | None = None, now: float | None = None
    ) -> Path:
        """For the route serving url(): the file's path, or InvalidKey / InvalidSignature / ObjectNotFound."""
        path = self._path(key)
        if not verify_signed_url(key, expires, sig, self._secret, now=now, filename=filename):
            raise InvalidSignature("file URL signature is invalid or expired")
        if not path.is_file():
            raise ObjectNotFound(key)
        return path

    async def ping(self) -> None:
        def check() -> None:
            (self.root / ".tmp").mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(f"storage root {self.root} is not writable")

        await asyncio.to_thread(check)

    # --- helpers (blocking; called in threads)

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / f"{key}.json"

    def _content_type(self, key: str) -> str:
        try:
            return json.loads(self._meta_path(key).read_text())["content_type"]
        except (FileNotFoundError, NotADirectoryError, ValueError, KeyError):
            return DEFAULT_CONTENT_TYPE

    def _temp_file(self):
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False)

    def _write_atomically(self, key: str, target: Path, content_type: str, write) -> StoredObject:
        tmp = self._temp_file()
        try:
            write(tmp)
            return self._commit(key, target, content_type, tmp)
        finally:
            self._discard(tmp)

    def _commit(self, key: str, target: Path, content_type: str, tmp) -> StoredObject:
        tmp.flush()
        os.fsync(tmp.fileno())
        size = tmp.tell()
        tmp.close()
        # The content type lands first, so a data file that is visible always has its metadata.
        meta = self._meta_path(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta_tmp = self._temp_file()
        with meta_tmp:
            meta_tmp.write(json.dumps({"content_type": content_type}).encode())
        os.replace(meta_tmp.name, meta)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp.name, target)
        return StoredObject(key, size, content_type)

    @staticmethod
    def _discard(tmp) -> None:
        tmp.close()
        Path(tmp.name).unlink(missing_ok=True)
