"""The storage interface both backends implement, its errors, and the chunked reading they share."""

from __future__ import annotations

import abc
import asyncio
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote

CHUNK_SIZE = 1024 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class AsyncReadable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


# What put_stream accepts: an async iterator of bytes (an httpx/aiohttp body), an object with an async read()
# (Starlette's UploadFile) or a plain binary file.
StreamSource = AsyncIterable[bytes] | AsyncReadable | BinaryIO


class StorageError(Exception):
    pass


class ObjectNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no stored object with key {key!r}")
        self.key = key


class InvalidKey(StorageError, ValueError):
    pass


class InvalidSignature(StorageError):
    pass


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str


def validate_key(key: str) -> str:
    """Refuse keys that could escape the local root or mean different objects on the two backends."""
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise InvalidKey(f"storage key must be a non-empty string of at most 1024 characters: {key!r}")
    if key.startswith("/") or "\\" in key or any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise InvalidKey(f"storage key must be relative, with no backslash or control character: {key!r}")
    for part in key.split("/"):
        # Dot-led segments are refused outright: "." and ".." would climb, and LocalStorage keeps its temp and
        # metadata files under dot names, which a key must never reach.
        if not part or part.startswith("."):
            raise InvalidKey(f"storage key has an empty or dot-led segment: {key!r}")
    return key


def content_disposition(filename: str) -> str:
    """An attachment header that survives non-ASCII names (RFC 6266: ASCII fallback plus filename*)."""
    fallback = filename.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class ByteStream:
    """An async iterator over an open object that closes it at the end, on error, or on aclose()."""

    def __init__(self, read: Callable[[], bytes], close: Callable[[], None]) -> None:
        self._read = read
        self._close = close
        self._closed = False

    def __aiter__(self) -> ByteStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            chunk = await asyncio.to_thread(self._read)
        except BaseException:
            await self.aclose()
            raise
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._close)


async def iter_chunks(source: StreamSource, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """Yield the source's bytes one chunk at a time, whatever kind of source it is."""
    if hasattr(source, "__aiter__"):
        async for chunk in source:
            if chunk:
                yield bytes(chunk)
        return
    read = getattr(source, "read", None)
    if read is None:
        raise TypeError(f"put_stream needs an async iterator of bytes or a readable file, got {type(source)!r}")
    while True:
        if inspect.iscoroutinefunction(read):
            chunk = await read(chunk_size)
        else:
            # A blocking file read stays off the event loop.
            chunk = await asyncio.to_thread(read, chunk_size)
        if not chunk:
            return
        yield bytes(chunk)


class Storage(abc.ABC):
    """Blob storage for job inputs and outputs. Every method is async; blocking I/O runs in threads."""

    @abc.abstractmethod
    async def put_file(self, key: str, path: Path | str, content_type: str = DEFAULT_CONTENT_TYPE) -> StoredObject: ...

    @abc.abstractmethod
    async def put_bytes(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> StoredObject: ...

    @abc.abstractmethod
    async def put_stream(
        self, key: str, source: StreamSource, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject: ...

    @abc.abstractmethod
    async def get_to_file(self, key: str, path: Path | str) -> StoredObject: ...

    @abc.abstractmethod
    async def open_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> ByteStream:
        """Open the object (raising ObjectNotFound now, not on first read) and return its chunks."""

    @abc.abstractmethod
    async def stat(self, key: str) -> StoredObject | None: ...

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error, so retries are safe."""

    @abc.abstractmethod
    async def url(self, key: str, expires_s: int, filename: str | None = None) -> str:
        """An expiring GET URL; with filename, downloads are offered under that name."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the storage cannot be reached (readiness probes)."""

    async def read_bytes(self, key: str) -> bytes:
        """The whole object in memory: for small files only (workflow JSON, thumbnails)."""
        stream = await self.open_stream(key)
        return b"".join([chunk async for chunk in stream])

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None
