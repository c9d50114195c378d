"""Queries for the creator's watched folder and the files seen in it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from comfy_platform.statuses import DRIVE_FILE_DONE_STATUSES, DriveFileStatus
from db.models import DriveFile, DriveWatch, Job, utcnow
from db.session import dialect_insert


async def get_watch(session: AsyncSession, user_id: str) -> DriveWatch | None:
    return await session.get(DriveWatch, user_id, populate_existing=True)


async def set_watch(session: AsyncSession, user_id: str, *, folder_id: str, folder_name: str, output_folder_id: str,
                    preset: str) -> DriveWatch:
    """Watch a folder. Watching another folder starts its changes cursor afresh; the same folder keeps it."""
    watch = await get_watch(session, user_id)
    if watch is None:
        watch = DriveWatch(user_id=user_id, folder_id=folder_id, folder_name=folder_name,
                           output_folder_id=output_folder_id, preset=preset)
        session.add(watch)
    else:
        if watch.folder_id != folder_id:
            watch.page_token = None
        watch.folder_id, watch.folder_name = folder_id, folder_name
        watch.output_folder_id, watch.preset, watch.paused_reason = output_folder_id, preset, None
    await session.flush()
    return watch


async def delete_watch(session: AsyncSession, user_id: str) -> None:
    await session.execute(delete(DriveWatch).where(DriveWatch.user_id == user_id))


async def save_page_token(session: AsyncSession, user_id: str, page_token: str) -> None:
    await session.execute(update(DriveWatch).where(DriveWatch.user_id == user_id)
                          .values(page_token=page_token, updated_at=utcnow()))


async def pause_watch(session: AsyncSession, user_id: str, reason: str) -> None:
    await session.execute(update(DriveWatch).where(DriveWatch.user_id == user_id)
                          .values(paused_reason=_fit(reason, DriveWatch.paused_reason), updated_at=utcnow()))


async def resume_watch(session: AsyncSession, user_id: str) -> None:
    await session.execute(update(DriveWatch).where(DriveWatch.user_id == user_id)
                          .values(paused_reason=None, updated_at=utcnow()))


async def done_versions(session: AsyncSession, user_id: str,
                        versions: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (file id, version) pairs were already processed, failed or skipped."""
    wanted = list(versions)
    if not wanted:
        return set()
    rows = await session.execute(
        select(DriveFile.file_id, DriveFile.version).where(
            DriveFile.user_id == user_id, DriveFile.status.in_(DRIVE_FILE_DONE_STATUSES),
            tuple_(DriveFile.file_id, DriveFile.version).in_(wanted)))
    return {(file_id, version) for file_id, version in rows}


async def record_file(session: AsyncSession, user_id: str, file_id: str, version: str, **fields: Any) -> None:
    """Insert or update the record of one file version. A done record is never turned back to processing; a
    waiting one is (the file is taken up again), and loses its reason."""
    if fields.get("reason"):
        fields["reason"] = _fit(fields["reason"], DriveFile.reason)
    if fields.get("status") == DriveFileStatus.PROCESSING:
        fields.setdefault("reason", None)
    values = {"user_id": user_id, "file_id": file_id, "version": version, **fields}
    insert = dialect_insert(session, DriveFile).values(**values)
    changes = {name: insert.excluded[name] for name in fields} | {"updated_at": utcnow()}
    processing = fields.get("status") == DriveFileStatus.PROCESSING
    stay_done = DriveFile.status.notin_(DRIVE_FILE_DONE_STATUSES) if processing else None
    await session.execute(insert.on_conflict_do_update(
        index_elements=["user_id", "file_id", "version"], set_=changes, where=stay_done))


async def claim_edition(session: AsyncSession, user_id: str, file_id: str, version: str) -> int:
    """The edition of this file version (1 for the first version of a file to be edited, 2 for the next...), given
    now if it has none: one more than the file's highest. Rows from before editions that have an output count as
    edition 1. The version's row must exist. Two versions claiming at once on PostgreSQL may both pick the same
    number; the unique constraint refuses the second (IntegrityError), whose caller tries again."""
    others = aliased(DriveFile)
    highest = (select(func.coalesce(func.max(func.coalesce(others.edition, 1)), 0) + 1)
               .where(others.user_id == user_id, others.file_id == file_id, others.id != DriveFile.id,
                      or_(others.edition.is_not(None), others.output_file_id.is_not(None)))
               .scalar_subquery())
    this = (DriveFile.user_id == user_id, DriveFile.file_id == file_id, DriveFile.version == version)
    await session.execute(update(DriveFile).where(*this, DriveFile.edition.is_(None)).values(edition=highest))
    edition = await session.scalar(select(DriveFile.edition).where(*this))
    if edition is None:
        raise LookupError(f"no record of version {version} of file {file_id}")
    return edition


async def mark_waiting(session: AsyncSession, user_id: str, reason: str) -> int:
    """Files still processing when the creator's Drive grant was refused wait for them to reconnect."""
    result = await session.execute(
        update(DriveFile).where(DriveFile.user_id == user_id, DriveFile.status == DriveFileStatus.PROCESSING.value)
        .values(status=DriveFileStatus.WAITING.value, reason=_fit(reason, DriveFile.reason), updated_at=utcnow()))
    return result.rowcount


async def waiting_for_quota(session: AsyncSession, user_id: str, limit: int) -> list[DriveFile]:
    """Up to `limit` versions waiting for the creator's monthly quota, the longest waiting first. A waiting version
    a later version of the same file replaced is not edited any more: it is marked skipped, and the later one
    goes its own way."""
    newer = aliased(DriveFile)
    replaced = (select(newer.id).where(newer.user_id == DriveFile.user_id, newer.file_id == DriveFile.file_id,
                                       newer.created_at > DriveFile.created_at).exists())
    waiting = (DriveFile.user_id == user_id, DriveFile.status == DriveFileStatus.WAITING_FOR_QUOTA.value)
    await session.execute(update(DriveFile).where(*waiting, replaced).values(
        status=DriveFileStatus.SKIPPED.value, reason="a newer version of this photo replaced it",
        updated_at=utcnow()).execution_options(synchronize_session=False))
    if limit <= 0:
        return []
    return list(await session.scalars(select(DriveFile).where(*waiting).order_by(DriveFile.created_at, DriveFile.id)
                                      .limit(limit)))


async def count_waiting_for_quota(session: AsyncSession, user_id: str) -> int:
    return await session.scalar(select(func.count(DriveFile.id)).where(
        DriveFile.user_id == user_id, DriveFile.status == DriveFileStatus.WAITING_FOR_QUOTA.value))


async def record_new_skips(session: AsyncSession, user_id: str, skipped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record files skipped for what they are (not images); return only those not recorded before, so the
    creator hears about each once."""
    if not skipped:
        return []
    rows = [{"user_id": user_id, "status": DriveFileStatus.SKIPPED.value, **item} for item in skipped]
    inserted = await session.execute(
        dialect_insert(session, DriveFile).values(rows).on_conflict_do_nothing().returning(DriveFile.file_id,
                                                                                         DriveFile.version))
    new = {(file_id, version) for file_id, version in inserted}
    return [item for item in skipped if (item["file_id"], item["version"]) in new]


async def list_files(session: AsyncSession, user_id: str, limit: int = 50) -> list[DriveFile]:
    rows = await session.scalars(select(DriveFile).where(DriveFile.user_id == user_id)
                                 .order_by(DriveFile.updated_at.desc(), DriveFile.id).limit(limit))
    return list(rows)


def _fit(text: str, column) -> str:
    """Error messages (ComfyUI's, Drive's) can be longer than the column: cut them rather than fail the write."""
    limit = column.property.columns[0].type.length
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def page_files(session: AsyncSession, user_id: str, statuses: Iterable[str] | None, offset: int,
                     limit: int) -> list[tuple[DriveFile, Job | None]]:
    """One page of the creator's photos, most recently changed first, each with its edit's job (progress) if any."""
    query = (select(DriveFile, Job).outerjoin(Job, Job.id == DriveFile.job_id)
             .where(DriveFile.user_id == user_id))
    if statuses is not None:
        query = query.where(DriveFile.status.in_(list(statuses)))
    rows = await session.execute(query.order_by(DriveFile.updated_at.desc(), DriveFile.id).offset(offset).limit(limit))
    return [(file, job) for file, job in rows]


async def count_files_by_status(session: AsyncSession, user_id: str,
                                since: datetime | None = None) -> dict[str, int]:
    """The creator's photos of each status (changed since `since`, when given)."""
    query = select(DriveFile.status, func.count(DriveFile.id)).where(DriveFile.user_id == user_id)
    if since is not None:
        query = query.where(DriveFile.updated_at >= since)
    rows = await session.execute(query.group_by(DriveFile.status))
    return {status: count for status, count in rows}


async def files_changed_since(session: AsyncSession, user_id: str, since: datetime,
                              limit: int = 200) -> list[tuple[DriveFile, Job | None]]:
    """The creator's photos whose record changed after `since`, and those in progress (whose edit's progress may
    have moved): the dashboard's live updates."""
    rows = await session.execute(
        select(DriveFile, Job).outerjoin(Job, Job.id == DriveFile.job_id)
        .where(DriveFile.user_id == user_id,
               or_(DriveFile.updated_at > since, DriveFile.status == DriveFileStatus.PROCESSING.value))
        .order_by(DriveFile.updated_at).limit(limit))
    return [(file, job) for file, job in rows]


async def get_file(session: AsyncSession, user_id: str, record_id: str) -> DriveFile | None:
    return await session.scalar(select(DriveFile).where(DriveFile.user_id == user_id, DriveFile.id == record_id))


async def take_up_failed(session: AsyncSession, user_id: str, record_id: str, seen_at: datetime) -> bool:
    """A failed photo taken up again (its retry): processing, its failed job forgotten (the retry records its own),
    unless its record changed since `seen_at` (the retry's run already recorded it). True if taken up here."""
    result = await session.execute(
        update(DriveFile).where(DriveFile.user_id == user_id, DriveFile.id == record_id,
                                DriveFile.status == DriveFileStatus.FAILED.value, DriveFile.updated_at == seen_at)
        .values(status=DriveFileStatus.PROCESSING.value, reason=None, job_id=None, updated_at=utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


async def record_failed_again(session: AsyncSession, user_id: str, record_id: str, reason: str | None) -> None:
    """A retry that could not start: the photo is the failure it was."""
    await session.execute(
        update(DriveFile).where(DriveFile.user_id == user_id, DriveFile.id == record_id,
                                DriveFile.status == DriveFileStatus.PROCESSING.value, DriveFile.job_id.is_(None))
        .values(status=DriveFileStatus.FAILED.value, reason=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False))


async def update_watch_settings(session: AsyncSession, user_id: str, **values: Any) -> None:
    """The watch's preset, its parameters, its output folder (name and id): what the next sync uses."""
    await session.execute(update(DriveWatch).where(DriveWatch.user_id == user_id).values(**values, updated_at=utcnow()))
