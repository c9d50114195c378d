"""Usage records: one per finished job, written once however often the finish is retried, and their sums."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
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
