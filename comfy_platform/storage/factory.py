"""Pick the storage backend that STORAGE_URL names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from comfy_platform.settings import Settings
from comfy_platform.storage.base import Storage
from comfy_platform.storage.local import LocalStorage
from comfy_platform.storage.s3 import S3Storage


def storage_from_settings(settings: Settings) -> Storage:
    """"" -> local disk under DATA_DIR/blobs; "file:///dir" -> local disk there; "s3://bucket[/prefix]" -> S3."""
    url = settings.STORAGE_URL.strip()
    if not url or url.startswith("file://"):
        root = Path(urlsplit(url).path) if url else settings.DATA_DIR / "blobs"
        return LocalStorage(root, settings.public_base_url, settings.SECRET_KEY)
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"STORAGE_URL must be empty, file:///dir or s3://bucket[/prefix], got {url!r}")
    return S3Storage(
        endpoint=settings.S3_ENDPOINT,
        access_key=settings.S3_ACCESS_KEY,
        secret_key=settings.S3_SECRET_KEY,
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        region=settings.S3_REGION,
        secure=settings.S3_SECURE,
        public_endpoint=settings.S3_PUBLIC_ENDPOINT,
    )
