"""Local disk specifics: signed URLs, atomic writes, and choosing a backend from settings."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from comfy_platform.settings import Settings
from comfy_platform.storage import (
    InvalidSignature,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    sign_url,
    storage_from_settings,
    verify_signed_url,
)


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def test_signed_url_points_at_the_api_file_route_with_expiry_and_signature(local_storage: LocalStorage):
    url = await local_storage.url("jobs/1/out.png", 3600, filename="out.png")
    assert url.startswith("http://testserver/api/files/jobs/1/out.png?")
    query = query_of(url)
    assert int(query["expires"]) == pytest.approx(time.time() + 3600, abs=5)
    assert verify_signed_url("jobs/1/out.png", query["expires"], query["sig"], "test-secret", filename="out.png")


def test_verify_rejects_an_expired_signature():
    expires = int(time.time()) + 10
    sig = sign_url("a/b.png", expires, "secret")
    assert verify_signed_url("a/b.png", expires, sig, "secret", now=expires)
    assert not verify_signed_url("a/b.png", expires, sig, "secret", now=expires + 1)


@pytest.mark.parametrize(
    "key, expires_delta, sig_change, secret, filename",
    [
        ("a/other.png", 0, "", "secret", None),  # another key
        ("a/b.png", 1, "", "secret", None),  # a later expiry
        ("a/b.png", 0, "0", "secret", None),  # a flipped signature character
        ("a/b.png", 0, "", "other-secret", None),  # another server's secret
        ("a/b.png", 0, "", "secret", "evil.exe"),  # a filename that was not signed
    ],
)
def test_verify_rejects_a_tampered_url(key, expires_delta, sig_change, secret, filename):
    expires = int(time.time()) + 60
    sig = sign_url("a/b.png", expires, "secret")
    if sig_change:
        sig = ("1" if sig[0] == "0" else "0") + sig[1:]
    assert not verify_signed_url(key, expires + expires_delta, sig, secret, filename=filename)


def test_verify_rejects_an_expiry_that_is_not_a_number():
    assert not verify_signed_url("a/b.png", "soon", "abc", "secret")


async def test_path_for_signed_url_gives_the_file_or_refuses(local_storage: LocalStorage):
    await local_storage.put_bytes("a/b.png", b"img", "image/png")
    query = query_of(await local_storage.url("a/b.png", 60))
    assert local_storage.path_for_signed_url("a/b.png", query["expires"], query["sig"]).read_bytes() == b"img"
    with pytest.raises(InvalidSignature):
        local_storage.path_for_signed_url("a/b.png", query["expires"], "0" * 64)
    with pytest.raises(InvalidSignature):
        local_storage.path_for_signed_url("a/b.png", query["expires"], query["sig"], now=int(query["expires"]) + 1)
    await local_storage.delete("a/b.png")
    with pytest.raises(ObjectNotFound):
        local_storage.path_for_signed_url("a/b.png", query["expires"], query["sig"])


async def test_a_failed_stream_leaves_neither_the_object_nor_a_temp_file(local_storage: LocalStorage):
    async def broken_body():
        yield b"partial data"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await local_storage.put_stream("jobs/1/upload.bin", broken_body(), "image/png")
    assert not await local_storage.exists("jobs/1/upload.bin")
    assert list((local_storage.root / ".tmp").iterdir()) == []


def test_empty_storage_url_means_local_disk_under_data_dir(tmp_path: Path):
    storage = storage_from_settings(Settings(DATA_DIR=tmp_path, STORAGE_URL=""))
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "blobs").resolve()


def test_s3_storage_url_gives_bucket_and_prefix():
    settings = Settings(
        STORAGE_URL="s3://outputs/env/prod", S3_ENDPOINT="127.0.0.1:1", S3_ACCESS_KEY="a", S3_SECRET_KEY="b"
    )
    storage = storage_from_settings(settings)
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("outputs", "env/prod")


def test_an_unknown_storage_url_scheme_is_refused():
    with pytest.raises(ValueError, match="STORAGE_URL"):
        storage_from_settings(Settings(STORAGE_URL="gs://bucket"))
