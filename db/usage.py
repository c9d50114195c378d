"""Usage records: one per finished job, written once however often the finish is retried, and their sums."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import NamedTuple

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApiImagesByDay, Job, UsageRecord, new_id, utcnow
from db.session import dialect_insert


async def record_usage(session: AsyncSession, job: Job, *, images: int) -> None:
    gpu_seconds = 0.0
    if job.comfy_started_at and job.comfy_finished_at:
        gpu_seconds = max((job.comfy_finished_at - job.comfy_started_at).total_seconds(), 0.0)
    row = {
        "id": new_id(), "job_id": job.id, "user_id": job.user_id, "api_key_id": job.api_key_id,
        "product": job.product, "images": images, "gpu_seconds": gpu_seconds,
        "created_at": job.finished_at or utcnow(),
    }
    # The unique job_id makes the database, not this code, the judge of "already billed".
    insert = dialect_insert(session, UsageRecord).values(row)
    recorded = (await session.execute(insert.on_conflict_do_nothing(index_elements=["job_id"]))).rowcount
    if recorded and job.product == "api" and job.user_id and images:
        await add_api_images(session, job.user_id, row["created_at"], images)


async def add_api_images(session: AsyncSession, user_id: str, at: datetime, images: int) -> None:
    """Count a usage record's API images in its account's day (UTC), in the record's own transaction."""
    insert = dialect_insert(session, ApiImagesByDay).values(user_id=user_id, day=at.astimezone(UTC).date(),
                                                            images=images)
    await session.execute(insert.on_conflict_do_update(
        index_elements=["user_id", "day"], set_={"images": ApiImagesByDay.images + insert.excluded.images}))


async def usage_summary(
    session: AsyncSession,
    *,
    api_key_id: str | None = None,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, int | float]:
    """Jobs, images and GPU seconds billed in [since, until)."""
    query = select(
        func.count(UsageRecord.id),
        func.coalesce(func.sum(UsageRecord.images), 0),
        func.coalesce(func.sum(UsageRecord.gpu_seconds), 0.0),
    ).where(*owner_filters(UsageRecord, api_key_id, user_id))
    if since is not None:
        query = query.where(UsageRecord.created_at >= since)
    if until is not None:
        query = query.where(UsageRecord.created_at < until)
    jobs, images, gpu_seconds = (await session.execute(query)).one()
    return {"jobs": int(jobs), "images": int(images), "gpu_seconds": float(gpu_seconds)}


def owner_filters(model: type, api_key_id: str | None, user_id: str | None) -> list:
    filters = []
    if api_key_id is not None:
        filters.append(model.api_key_id == api_key_id)
    if user_id is not None:
        filters.append(model.user_id == user_id)
    return filters


class KeyDay(NamedTuple):
    api_key_id: str
    day: date
    jobs: int
    images: int
    gpu_seconds: float


async def usage_by_key_and_day(session: AsyncSession, api_key_ids: list[str], since: datetime) -> list[KeyDay]:
    """Jobs, images and GPU seconds billed per key per UTC day from `since` on, read from the records' (api_key_id,
    created_at) index; days without usage are left out."""
    if not api_key_ids:
        return []
    if session.bind.dialect.name == "postgresql":
        day = cast(func.timezone("UTC", UsageRecord.created_at), Date)
    else:  # SQLite keeps naive UTC text: its first ten characters are the day
        day = func.substr(UsageRecord.created_at, 1, 10)
    rows = await session.execute(
        select(UsageRecord.api_key_id, day.label("day"), func.count(UsageRecord.id),
               func.coalesce(func.sum(UsageRecord.images), 0), func.coalesce(func.sum(UsageRecord.gpu_seconds), 0.0))
        .where(UsageRecord.api_key_id.in_(api_key_ids), UsageRecord.created_at >= since)
        .group_by(UsageRecord.api_key_id, day).order_by(day))
    return [KeyDay(key_id, value if isinstance(value, date) else date.fromisoformat(value), int(jobs), int(images),
                   float(gpu)) for key_id, value, jobs, images, gpu in rows]
