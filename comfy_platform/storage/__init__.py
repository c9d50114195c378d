"""Object storage for job inputs and outputs: one interface, a local-disk and an S3 backend.

    storage = storage_from_settings(get_settings())
    await storage.put_file("jobs/<id>/out.png", path, "image/png")
    url = await storage.url("jobs/<id>/out.png", expires_s=3600, filename="out.png")
"""

from comfy_platform.storage.base import (
    ByteStream,
    InvalidKey,
    InvalidSignature,
    ObjectNotFound,
    Storage,
    StorageError,
    StoredObject,
    content_disposition,
    validate_key,
)
from comfy_platform.storage.factory import storage_from_settings
from comfy_platform.storage.local import LocalStorage, sign_url, verify_signed_url
from comfy_platform.storage.s3 import S3Storage

__all__ = [
    "ByteStream",
    "InvalidKey",
    "InvalidSignature",
    "LocalStorage",
    "ObjectNotFound",
    "S3Storage",
    "Storage",
    "StorageError",
    "StoredObject",
    "content_disposition",
    "sign_url",
    "storage_from_settings",
    "validate_key",
    "verify_signed_url",
]
