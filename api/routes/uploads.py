"""Uploads: input images sent ahead of a job and named by id in it (`{"upload_id": ...}`)."""

from __future__ import annotations

from fastapi import APIRouter, UploadFile

from api.deps import GenerateKey, SessionDep, SettingsDep, StorageDep
from api.schemas import UploadPublic
from comfy_platform.stored_files import StoredFile
from services.job_inputs import store_upload

router = APIRouter(prefix="/uploads", tags=["uploads"])


@router.post("", status_code=201, response_model=UploadPublic, summary="Upload an input image")
async def create_upload(file: UploadFile, key: GenerateKey, session: SessionDep, storage: StorageDep,
                        settings: SettingsDep) -> UploadPublic:
    """A multipart `file` that must decode as an image; use its id as `{"upload_id": ...}` in a job."""
    data = await file.read(settings.MAX_INPUT_BYTES + 1)
    upload = await store_upload(data, file.filename, key.id, session, storage, settings)
    return UploadPublic.of(upload.id, StoredFile.of(upload))
