"""The period's API images that admit a job (db.billing.api_images_used, from whole days kept in api_images_by_day
and the first day's records) agree with the records themselves, on SQLite and PostgreSQL; and migration 0009
fills the days from the records made before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.billing import api_images_used
from db.jobs import create_job, finish_job
from db.models import UsageRecord, new_id
from db.session import create_engine, create_sessionmaker, migrate

T0 = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


def output(index: int) -> dict:
    return {"node_id": "9", "index": index, "storage_key": f"jobs/x/9_{index}.png", "filename": f"9_{index}.png",
            "content_type": "image/png", "size": 1, "width": 1, "height": 1}


async def finished(session: AsyncSession, user_id: str, at: datetime, images: int, product: str = "api") -> str:
    job_id = new_id()
    await create_job(session, id=job_id, product=product, source="preset", preset="txt2img",
                     workflow_id=f"gen-{job_id}", api_key_id=f"key-{user_id}", user_id=user_id, params={})
    await finish_job(session, job_id, status="succeeded", outputs=[output(i) for i in range(images)],
                     finished_at=at)
    await session.commit()
    return job_id


async def records_since(session: AsyncSession, user_id: str, since: datetime) -> int:
    return await session.scalar(select(func.coalesce(func.sum(UsageRecord.images), 0)).where(
        UsageRecord.user_id == user_id, UsageRecord.product == "api", UsageRecord.created_at >= since))


async def test_the_period_s_images_are_the_records_images_from_any_start(db_session: AsyncSession):
    user = f"user-{new_id()}"
    times = [T0 - timedelta(days=40), T0 - timedelta(days=3, hours=1), T0 - timedelta(days=3),
             T0.replace(hour=0, minute=0), T0 - timedelta(minutes=1), T0, T0 + timedelta(hours=9)]
    for index, at in enumerate(times):
        await finished(db_session, user, at, images=index % 3 + 1)
    retried = await finished(db_session, user, T0, images=2)
    await finish_job(db_session, retried, status="succeeded", outputs=[output(0), output(1)], finished_at=T0)
    await finished(db_session, user, T0, images=5, product="creator")  # a creator's photo is no API image
    await db_session.commit()
    starts = [T0 - timedelta(days=30), T0 - timedelta(days=3, minutes=30), T0 - timedelta(days=3),
              T0.replace(hour=0, minute=0), T0, T0 + timedelta(seconds=1), T0 + timedelta(days=1)]
    for since in starts:
        assert await api_images_used(db_session, user, since) == await records_since(db_session, user, since), since


async def test_migration_0009_fills_the_days_from_earlier_records(empty_database_url: str):
    await migrate(empty_database_url, "0008")
    engine = create_engine(empty_database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            rows = [{"id": new_id(), "user_id": "u1", "api_key_id": "k1", "product": product, "images": images,
                     "gpu_seconds": 0.0, "created_at": at}
                    for product, images, at in [("api", 2, T0 - timedelta(days=2)), ("api", 3, T0),
                                                ("api", 4, T0.replace(hour=23, minute=59)),
                                                ("creator", 7, T0), ("api", 1, T0 + timedelta(days=1))]]
            await session.execute(insert(UsageRecord), rows)
        await migrate(empty_database_url)
        async with create_sessionmaker(engine)() as session:
            for since in (T0 - timedelta(days=5), T0.replace(hour=0, minute=0), T0, T0 + timedelta(hours=12)):
                assert await api_images_used(session, "u1", since) == await records_since(session, "u1", since)
    finally:
        await engine.dispose()
