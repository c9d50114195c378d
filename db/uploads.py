"""Input images uploaded ahead of a job, each owned by one API key."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.stored_files import StoredFile
from db.models import Upload


async def get_upload(session: AsyncSession, upload_id: str, api_key_id: str | None) -> Upload | None:
    """The upload, if it belongs to this key (another key's upload is as unknown as one that never existed)."""
    return await session.scalar(select(Upload).where(Upload.id == upload_id, Upload.api_key_id == api_key_id))


async def create_upload(session: AsyncSession, *, upload_id: str, api_key_id: str, file: StoredFile) -> Upload:
    upload = Upload(id=upload_id, api_key_id=api_key_id, **asdict(file))
    session.add(upload)
    await session.flush()
    return upload
