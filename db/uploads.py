"""Input images uploaded ahead of a job, each owned by one API key."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Upload


async def get_upload(session: AsyncSession, upload_id: str, api_key_id: str | None) -> Upload | None:
    """The upload, if it belongs to this key (another key's upload is as unknown as one that never existed)."""
    return await session.scalar(select(Upload).where(Upload.id == upload_id, Upload.api_key_id == api_key_id))


async def create_upload(session: AsyncSession, **fields: object) -> Upload:
    upload = Upload(**fields)
    session.add(upload)
    await session.flush()
    return upload
