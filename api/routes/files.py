"""Serves local-disk storage through expiring signed URLs (S3 storage hands out presigned URLs instead)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.deps import StorageDep
from api.errors import ApiError, NotFound
from comfy_platform.storage import (
    InvalidKey,
    InvalidSignature,
    LocalStorage,
    ObjectNotFound,
)

router = APIRouter(tags=["files"])


@router.get("/files/{key:path}", summary="Download a stored file through a signed URL", include_in_schema=False)
async def read_file(key: str, expires: str, sig: str, storage: StorageDep, filename: str | None = None) -> FileResponse:
    """Answers 403 for a bad or expired signature, 404 when the file is gone."""
    if not isinstance(storage, LocalStorage):
        raise NotFound("files are served from object storage")
    try:
        path = storage.path_for_signed_url(key, expires, sig, filename=filename)
        stored = await storage.stat(key)
    except (InvalidSignature, InvalidKey) as exc:
        raise ApiError(str(exc), code="invalid_signature", status_code=403) from None
    except ObjectNotFound:
        raise NotFound(f"file {key} is gone") from None
    return FileResponse(path, media_type=stored.content_type if stored else None, filename=filename)
