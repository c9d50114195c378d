"""Behaviour every Storage backend shares; the `storage` fixture runs each test on local disk and on S3."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from comfy_platform.storage import InvalidKey, ObjectNotFound, Storage, StoredObject
from tests.comfy_platform.storage.helpers import chunks_of, fetch_url

MiB = 1024 * 1024


def new_key(name: str = "file.bin") -> str:
    return f"jobs/{uuid.uuid4().hex}/{name}"


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 MiB of random bytes: more than one stream chunk and more than one S3 part."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    with open(path, "wb") as handle:
        for _ in range(12):
            handle.write(os.urandom(MiB))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_bytes_read_back_with_their_size_and_content_type(storage: Storage):
    key = new_key("hello.txt")
    stored = await storage.put_bytes(key, b"hello", "text/plain")
    assert stored == StoredObject(key, 5, "text/plain")
    assert await storage.read_bytes(key) == b"hello"
    assert await storage.stat(key) == StoredObject(key, 5, "text/plain")


async def test_put_file_and_get_to_file_round_trip_a_multipart_sized_file(storage: Storage, big_file, tmp_path):
    key = new_key()
    stored = await storage.put_file(key, big_file, "application/octet-stream")
    assert stored.size == 12 * MiB
    got = await storage.get_to_file(key, tmp_path / "nested" / "copy.bin")
    assert got.size == 12 * MiB
    assert sha256(tmp_path / "nested" / "copy.bin") == sha256(big_file)


async def test_streaming_an_async_iterator_bigger_than_a_chunk_stores_every_byte(storage: Storage, big_file, tmp_path):
    key = new_key()
    stored = await storage.put_stream(key, chunks_of(big_file, MiB), "video/mp4")
    assert stored == StoredObject(key, 12 * MiB, "video/mp4")
    await storage.get_to_file(key, tmp_path / "copy.bin")
    assert sha256(tmp_path / "copy.bin") == sha256(big_file)


async def test_streaming_a_plain_file_object_stores_every_byte(storage: Storage, big_file):
    key = new_key()
    with open(big_file, "rb") as handle:
        stored = await storage.put_stream(key, handle, "application/octet-stream")
    assert stored.size == 12 * MiB
    assert (await storage.stat(key)).size == 12 * MiB


async def test_streaming_an_object_with_async_read_stores_every_byte(storage: Storage):
    class Upload:  # the shape of Starlette's UploadFile
        def __init__(self, data: bytes) -> None:
            self._data = data

        async def read(self, size: int = -1) -> bytes:
            chunk, self._data = self._data[:size], self._data[size:]
            return chunk

    key = new_key()
    data = os.urandom(3 * MiB + 17)
    stored = await storage.put_stream(key, Upload(data), "image/png")
    assert stored.size == len(data)
    assert await storage.read_bytes(key) == data


async def test_a_stream_that_breaks_midway_stores_nothing(storage: Storage):
    async def broken_body():
        yield os.urandom(6 * MiB)
        yield os.urandom(6 * MiB)  # past the first S3 part, so a multipart upload is under way
        raise ConnectionError("client went away")

    key = new_key()
    with pytest.raises(ConnectionError):
        await storage.put_stream(key, broken_body(), "image/png")
    assert not await storage.exists(key)


async def test_open_stream_yields_chunks_no_bigger_than_asked(storage: Storage, big_file):
    key = new_key()
    await storage.put_file(key, big_file)
    digest, sizes = hashlib.sha256(), []
    async for chunk in await storage.open_stream(key, chunk_size=MiB):
        digest.update(chunk)
        sizes.append(len(chunk))
    assert max(sizes) <= MiB and sum(sizes) == 12 * MiB
    assert digest.hexdigest() == sha256(big_file)


async def test_putting_a_key_again_replaces_the_object(storage: Storage):
    key = new_key()
    await storage.put_bytes(key, b"first version", "text/plain")
    await storage.put_bytes(key, b"second", "application/json")
    assert await storage.read_bytes(key) == b"second"
    assert await storage.stat(key) == StoredObject(key, 6, "application/json")


async def test_exists_and_stat_follow_put_and_delete(storage: Storage):
    key = new_key()
    assert not await storage.exists(key)
    await storage.put_bytes(key, b"x", "text/plain")
    assert await storage.exists(key)
    await storage.delete(key)
    assert not await storage.exists(key)
    assert await storage.stat(key) is None


async def test_deleting_a_missing_key_is_not_an_error(storage: Storage):
    await storage.delete(new_key())


async def test_reading_a_missing_key_raises_object_not_found(storage: Storage, tmp_path):
    key = new_key()
    with pytest.raises(ObjectNotFound):
        await storage.read_bytes(key)
    with pytest.raises(ObjectNotFound):
        await storage.open_stream(key)
    with pytest.raises(ObjectNotFound):
        await storage.get_to_file(key, tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()


@pytest.mark.parametrize(
    "key", ["", "../escape", "a/../../b", "/etc/passwd", "a//b", "a/./b", ".meta/x.json", "a\\b", "a\nb", "x" * 1025]
)
async def test_keys_that_could_escape_or_collide_are_refused(storage: Storage, key: str):
    with pytest.raises(InvalidKey):
        await storage.put_bytes(key, b"x", "text/plain")
    with pytest.raises(InvalidKey):
        await storage.stat(key)
    with pytest.raises(InvalidKey):
        await storage.url(key, 60)


async def test_url_serves_the_object_bytes(storage: Storage):
    key = new_key("image one.png")
    await storage.put_bytes(key, b"\x89PNG fake", "image/png")
    status, body, _ = await fetch_url(storage, await storage.url(key, 60))
    assert (status, body) == (200, b"\x89PNG fake")


async def test_url_with_a_filename_still_serves_the_bytes(storage: Storage):
    key = new_key()
    await storage.put_bytes(key, b"named", "image/png")
    status, body, _ = await fetch_url(storage, await storage.url(key, 60, filename="résultat 1.png"))
    assert (status, body) == (200, b"named")


async def test_ping_passes_when_storage_is_reachable(storage: Storage):
    await storage.ping()
