"""S3 specifics against the real SeaweedFS server: presigned URLs, bucket creation, readiness."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from comfy_platform.settings import Settings
from comfy_platform.storage import S3Storage, storage_from_settings
from tests.fixtures.s3 import S3Server
from tests.helpers.ports import free_port


def storage_on(server: S3Server, bucket: str) -> S3Storage:
    return S3Storage(
        endpoint=server.endpoint, access_key=server.access_key, secret_key=server.secret_key, bucket=bucket
    )


async def test_presigned_url_stops_working_after_it_expires(s3_storage: S3Storage):
    await s3_storage.put_bytes("a/b.txt", b"soon gone", "text/plain")
    url = await s3_storage.url("a/b.txt", expires_s=1)
    await asyncio.sleep(2)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 403


async def test_presigned_url_with_filename_offers_a_download_under_that_name(s3_storage: S3Storage):
    await s3_storage.put_bytes("a/b.png", b"png", "image/png")
    url = await s3_storage.url("a/b.png", expires_s=60, filename="résultat 1.png")
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''r%C3%A9sultat%201.png" in disposition


async def test_presigned_url_is_signed_for_the_public_endpoint_and_downloads_from_there(s3_server: S3Server, tmp_path):
    port = s3_server.endpoint.rsplit(":", 1)[1]
    storage = storage_from_settings(Settings(
        _env_file=None, DATA_DIR=tmp_path, STORAGE_URL=f"s3://public-{uuid.uuid4().hex[:12]}",
        S3_ENDPOINT=s3_server.endpoint, S3_ACCESS_KEY=s3_server.access_key, S3_SECRET_KEY=s3_server.secret_key,
        S3_PUBLIC_ENDPOINT=f"localhost:{port}"))  # another name for the same server, as minio:9000 is inside compose
    await storage.put_bytes("a/b.txt", b"for the browser", "text/plain")
    url = await storage.url("a/b.txt", expires_s=60)
    assert urlsplit(url).netloc == f"localhost:{port}"
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        # The signature covers the host: the same URL sent to the internal name is refused.
        internal = await client.get(urlunsplit(urlsplit(url)._replace(netloc=s3_server.endpoint)))
    assert (response.status_code, response.content) == (200, b"for the browser")
    assert internal.status_code == 403


async def test_keys_live_under_the_prefix_in_the_bucket(s3_storage: S3Storage):
    await s3_storage.put_bytes("x/y.txt", b"1", "text/plain")
    names = await asyncio.to_thread(
        lambda: [o.object_name for o in s3_storage._client.list_objects(s3_storage.bucket, recursive=True)]
    )
    assert names == ["blobs/x/y.txt"]


async def test_storages_racing_to_create_one_bucket_all_succeed(s3_server: S3Server):
    bucket = f"race-{uuid.uuid4().hex[:12]}"
    storages = [storage_on(s3_server, bucket) for _ in range(4)]
    await asyncio.gather(*(s.put_bytes(f"k{i}", b"x", "text/plain") for i, s in enumerate(storages)))
    assert all([await storages[0].exists(f"k{i}") for i in range(4)])


async def test_ping_raises_when_s3_is_unreachable():
    storage = S3Storage(endpoint=f"127.0.0.1:{free_port()}", access_key="k", secret_key="s", bucket="nowhere")
    with pytest.raises(Exception):
        await storage.ping()


async def test_a_stream_bigger_than_one_part_is_uploaded_in_parts(s3_storage: S3Storage, tmp_path):
    async def body():
        for _ in range(12):
            yield b"\0" * 1024 * 1024

    await s3_storage.put_stream("big.bin", body(), "application/octet-stream")
    info = await asyncio.to_thread(s3_storage._client.stat_object, s3_storage.bucket, "blobs/big.bin")
    # A multipart ETag ends in -<part count>: 12 MiB in 8 MiB parts is two parts.
    assert info.etag.endswith("-2")
