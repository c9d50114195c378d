"""Deleting an account, a page at a time: the person's request (sessions ended, keys revoked, the account marked), then its jobs
with their inputs and outputs, its uploads and its photos' records, each page read with the storage keys its rows
name so the files can go before the rows, and last the account itself (the rest goes with it, ON DELETE CASCADE)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.statuses import TERMINAL_STATUSES
from db.models import (
    ApiKey,
    CreatorSession,
    DriveFile,
    Job,
    JobInput,
    JobOutput,
    Upload,
    User,
    utcnow,
)


@dataclass
class Page:
    """Rows of one kind to delete, and the storage keys they name."""

    ids: list[str] = field(default_factory=list)
    storage_keys: list[str] = field(default_factory=list)


async def request_deletion(session: AsyncSession, user_id: str) -> bool:
    """Mark the account as being deleted and close it (below). True when the account exists."""
    marked = await session.execute(update(User).where(User.id == user_id, User.deletion_requested_at.is_(None))
                                   .values(deletion_requested_at=utcnow())
                                   .execution_options(synchronize_session=False))
    await close_access(session, user_id)
    return marked.rowcount > 0


async def close_access(session: AsyncSession, user_id: str) -> None:
    """End every browser session of the account and revoke its API keys: nothing new can start for it."""
    await session.execute(delete(CreatorSession).where(CreatorSession.user_id == user_id))
    await session.execute(update(ApiKey).where(ApiKey.account_id == user_id, ApiKey.revoked_at.is_(None))
                          .values(revoked_at=utcnow()).execution_options(synchronize_session=False))


async def unfinished_jobs(session: AsyncSession, user_id: str, limit: int) -> list[Job]:
    """Jobs of the account (its creator photos' and its API keys') that have not ended."""
    return list(await session.scalars(select(Job).where(Job.user_id == user_id, Job.status.not_in(TERMINAL_STATUSES))
                                      .order_by(Job.created_at).limit(limit)))


async def jobs_page(session: AsyncSession, user_id: str, limit: int) -> Page:
    """Up to `limit` jobs of the account and their files' keys."""
    ids = list(await session.scalars(select(Job.id).where(Job.user_id == user_id).order_by(Job.created_at)
                                     .limit(limit)))
    if not ids:
        return Page()
    inputs = await session.scalars(select(JobInput.storage_key).where(JobInput.job_id.in_(ids)))
    outputs = await session.scalars(select(JobOutput.storage_key).where(JobOutput.job_id.in_(ids)))
    return Page(ids=ids, storage_keys=sorted({*inputs, *outputs}))


async def delete_jobs(session: AsyncSession, job_ids: list[str]) -> None:
    """The jobs with their inputs, outputs and webhook deliveries (ON DELETE CASCADE)."""
    await session.execute(delete(JobInput).where(JobInput.job_id.in_(job_ids)))
    await session.execute(delete(JobOutput).where(JobOutput.job_id.in_(job_ids)))
    await session.execute(delete(Job).where(Job.id.in_(job_ids)).execution_options(synchronize_session=False))


async def uploads_page(session: AsyncSession, user_id: str, limit: int) -> Page:
    """Up to `limit` uploads made with the account's keys."""
    rows = (await session.execute(select(Upload.id, Upload.storage_key).join(ApiKey, ApiKey.id == Upload.api_key_id)
                                  .where(ApiKey.account_id == user_id).limit(limit))).all()
    return Page(ids=[row.id for row in rows], storage_keys=[row.storage_key for row in rows])


async def delete_uploads(session: AsyncSession, upload_ids: list[str]) -> None:
    await session.execute(delete(Upload).where(Upload.id.in_(upload_ids)))


async def photos_page(session: AsyncSession, user_id: str, limit: int) -> list[DriveFile]:
    """Up to `limit` of the creator's photo records (each names the before/after thumbnails kept in storage)."""
    return list(await session.scalars(select(DriveFile).where(DriveFile.user_id == user_id).limit(limit)))


async def delete_photos(session: AsyncSession, record_ids: list[str]) -> None:
    await session.execute(delete(DriveFile).where(DriveFile.id.in_(record_ids)))


async def delete_account(session: AsyncSession, user_id: str) -> bool:
    """The account row; its keys, subscription, watch, sessions and emails go with it. True when there was one."""
    return (await session.execute(delete(User).where(User.id == user_id))).rowcount > 0
