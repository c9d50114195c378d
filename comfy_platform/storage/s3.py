"""Blobs in an S3 bucket through the (blocking) minio SDK, each call run in a thread."""

from __future__ import annotations

import asyncio
import inspect
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from comfy_platform.storage.base import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    ByteStream,
    ObjectNotFound,
    Storage,
    StoredObject,
    StreamSource,
    content_disposition,
    iter_chunks,
    validate_key,
)

PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB; one part is what an upload holds in memory
MAX_PARTS = 10_000
_MISSING_CODES = {"NoSuchKey", "NoSuchObject"}
_BUCKET_TAKEN_CODES = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


class _PullReader:
    """A blocking read(size) over chunks pulled one at a time: what minio's uploader thread reads from."""

    def __init__(self, pull: Callable[[], bytes]) -> None:
        self._pull = pull
        self._rest = b""
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        if not self._rest:
            self._rest = self._pull()
        if size < 0 or size >= len(self._rest):
            out, self._rest = self._rest, b""
        else:
            out, self._rest = self._rest[:size], self._rest[size:]
        self.size += len(out)
        return out


class S3Storage(Storage):
    """Objects at s3://bucket/prefix/<key>; the bucket is created on first use if it is missing.

    `public_endpoint` is the host:port clients fetch presigned URLs from, when it differs from `endpoint` (the one
    this process reaches): a SigV4 signature covers the Host header, so a URL must be signed for the host its
    client will send."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        prefix: str = "",
        region: str = "us-east-1",
        secure: bool = False,
        part_size: int = PART_SIZE,
        public_endpoint: str = "",
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._part_size = part_size
        self._bucket_ready = False
        # minio's own default waits 5 minutes to connect; a readiness probe must fail sooner than that.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=300),
            maxsize=16,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        # With the region given, presigning needs no round trip to ask the bucket's location.
        self._client = Minio(
            endpoint, access_key=access_key or None, secret_key=secret_key or None,
            region=region, secure=secure, http_client=http,
        )
        # Only signs (locally, the region being known): it never opens a connection to the public host, which
        # this process may not be able to reach at all.
        self._signer = Minio(
            public_endpoint, access_key=access_key or None, secret_key=secret_key or None,
            region=region, secure=secure,
        ) if public_endpoint else self._client

    # --- writes

    async def put_file(self, key: str, path: Path | str, content_type: str = DEFAULT_CONTENT_TYPE) -> StoredObject:
        name = await self._object_name(key)

        def upload() -> StoredObject:
            size = os.stat(path).st_size
            with open(path, "rb") as src:
                self._client.put_object(
                    self.bucket, name, src, size, content_type=content_type,
                    part_size=self._part_size_for(size), num_parallel_uploads=1,
                )
            return StoredObject(key, size, content_type)

        return await asyncio.to_thread(upload)

    async def put_bytes(self, key: str, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> StoredObject:
        name = await self._object_name(key)
        await asyncio.to_thread(
            self._client.put_object, self.bucket, name, io.BytesIO(data), len(data),
            content_type=content_type, part_size=self._part_size_for(len(data)), num_parallel_uploads=1,
        )
        return StoredObject(key, len(data), content_type)

    async def put_stream(
        self, key: str, source: StreamSource, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        name = await self._object_name(key)
        read = getattr(source, "read", None)
        if not hasattr(source, "__aiter__") and read is not None and not inspect.iscoroutinefunction(read):
            reader = _PullReader(lambda: read(CHUNK_SIZE))
        else:
            reader = _PullReader(_bridge(iter_chunks(source), asyncio.get_running_loop()))
        # length=-1: minio reads one part at a time and switches to a multipart upload past the first part.
        # num_parallel_uploads=1 keeps it to one part in memory.
        await asyncio.to_thread(
            self._client.put_object, self.bucket, name, reader, -1,
            content_type=content_type, part_size=self._part_size, num_parallel_uploads=1,
        )
        return StoredObject(key, reader.size, content_type)

    async def delete(self, key: str) -> None:
        name = await self._object_name(key)
        await asyncio.to_thread(self._client.remove_object, self.bucket, name)

    # --- reads

    async def get_to_file(self, key: str, path: Path | str) -> StoredObject:
        name = await self._object_name(key)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with _not_found_as(key):
            # fget_object writes to a .part file beside the target and renames it when complete.
            info = await asyncio.to_thread(self._client.fget_object, self.bucket, name, str(path))
        return StoredObject(key, info.size or 0, info.content_type or DEFAULT_CONTENT_TYPE)

    async def open_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> ByteStream:
        name = await self._object_name(key)
        with _not_found_as(key):
            response = await asyncio.to_thread(self._client.get_object, self.bucket, name)

        def close() -> None:
            response.close()
            response.release_conn()

        return ByteStream(lambda: response.read(chunk_size), close)

    async def stat(self, key: str) -> StoredObject | None:
        name = await self._object_name(key)
        try:
            info = await asyncio.to_thread(self._client.stat_object, self.bucket, name)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return None
            raise
        return StoredObject(key, info.size or 0, info.content_type or DEFAULT_CONTENT_TYPE)

    async def url(self, key: str, expires_s: int, filename: str | None = None) -> str:
        name = self._name(key)
        headers = {"response-content-disposition": content_disposition(filename)} if filename else None
        return await asyncio.to_thread(
            self._signer.presigned_get_object, self.bucket, name,
            expires=timedelta(seconds=expires_s), response_headers=headers,
        )

    async def ping(self) -> None:
        await asyncio.to_thread(self._ensure_bucket)
        self._bucket_ready = True

    # --- helpers

    def _name(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _object_name(self, key: str) -> str:
        name = self._name(key)
        if not self._bucket_ready:
            # Two first calls racing both run this; creating the bucket is idempotent, so that is harmless.
            await asyncio.to_thread(self._ensure_bucket)
            self._bucket_ready = True
        return name

    def _ensure_bucket(self) -> None:
        if self._client.bucket_exists(self.bucket):
            return
        try:
            self._client.make_bucket(self.bucket)
        except S3Error as exc:
            # Another process created it between our check and our create.
            if exc.code not in _BUCKET_TAKEN_CODES:
                raise

    def _part_size_for(self, size: int) -> int:
        return max(self._part_size, -(-size // MAX_PARTS))


def _bridge(chunks, loop: asyncio.AbstractEventLoop) -> Callable[[], bytes]:
    """Let a worker thread pull the next chunk of an async iterator that lives on the event loop."""

    async def next_chunk() -> bytes:
        try:
            return await anext(chunks)
        except StopAsyncIteration:
            return b""

    return lambda: asyncio.run_coroutine_threadsafe(next_chunk(), loop).result()


@contextmanager
def _not_found_as(key: str) -> Iterator[None]:
    """Turn S3's NoSuchKey into ObjectNotFound(key), the error both backends raise."""
    try:
        yield
    except S3Error as exc:
        if exc.code in _MISSING_CODES:
            raise ObjectNotFound(key) from exc
        raise
