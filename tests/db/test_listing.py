"""Listing jobs page by page, and summing usage, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from db.jobs import InvalidCursor, create_job, finish_job, list_jobs, usage_summary
from db.models import new_id

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


async def make_jobs(session: AsyncSession, api_key_id: str, created: list[datetime], **fields) -> list[str]:
    ids = []
    for created_at in created:
        job_id = new_id()
        await create_job(
            session, id=job_id, product="api", source="preset", workflow_id=f"gen-{job_id}",
            api_key_id=api_key_id, created_at=created_at, **fields,
        )
        ids.append(job_id)
    await session.commit()
    return ids


async def test_pages_follow_each_other_newest_first_without_gaps_or_repeats(db_session: AsyncSession):
    key = f"key-{new_id()}"
    # Two jobs share a timestamp: the id breaks the tie so neither is skipped at a page boundary.
    created = [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), T0 + timedelta(3)]
    ids = await make_jobs(db_session, key, created)
    await make_jobs(db_session, f"key-{new_id()}", [T0])  # someone else's job
    expected = sorted(zip(created, ids), reverse=True)

    seen, cursor, pages = [], None, 0
    while True:
        rows, cursor = await list_jobs(db_session, api_key_id=key, limit=2, cursor=cursor)
        seen += [(row.created_at, row.id) for row in rows]
        pages += 1
        if cursor is None:
            break
    assert seen == expected and pages == 3


async def test_a_full_last_page_has_no_next_cursor(db_session: AsyncSession):
    key = f"key-{new_id()}"
    await make_jobs(db_session, key, [T0, T0 + timedelta(seconds=1)])
    rows, cursor = await list_jobs(db_session, api_key_id=key, limit=2)
    assert len(rows) == 2 and cursor is None


async def test_listing_filters_by_user_and_status(db_session: AsyncSession):
    user = f"user-{new_id()}"
    key = f"key-{new_id()}"
    done, queued = await make_jobs(db_session, key, [T0, T0 + timedelta(seconds=1)], user_id=user)
    await finish_job(db_session, done, status="succeeded")
    await db_session.commit()
    rows, _ = await list_jobs(db_session, user_id=user, status="queued", limit=10)
    assert [row.id for row in rows] == [queued]
    rows, _ = await list_jobs(db_session, user_id=user, limit=10)
    assert [row.id for row in rows] == [queued, done]


async def test_a_malformed_cursor_is_refused(db_session: AsyncSession):
    with pytest.raises(InvalidCursor):
        await list_jobs(db_session, api_key_id="k", limit=2, cursor="not-a-cursor")


async def test_usage_summary_adds_up_jobs_images_and_gpu_seconds_since_a_time(db_session: AsyncSession):
    key = f"key-{new_id()}"
    old, recent, other = await make_jobs(db_session, key, [T0, T0, T0])
    image = {"node_id": "9", "storage_key": "k", "filename": "f.png", "content_type": "image/png", "size": 1}
    window = {"comfy_started_at": T0, "comfy_finished_at": T0 + timedelta(seconds=4)}
    await finish_job(db_session, old, status="succeeded", outputs=[{**image, "index": 0}], finished_at=T0, **window)
    for job_id in (recent, other):
        await finish_job(
            db_session, job_id, status="succeeded", outputs=[{**image, "index": i} for i in range(2)],
            finished_at=T0 + timedelta(days=1), **window,
        )
    await db_session.commit()

    total = await usage_summary(db_session, api_key_id=key)
    assert total == {"jobs": 3, "images": 5, "gpu_seconds": 12.0}
    since = await usage_summary(db_session, api_key_id=key, since=T0 + timedelta(hours=1))
    assert since == {"jobs": 2, "images": 4, "gpu_seconds": 8.0}
    assert await usage_summary(db_session, api_key_id=f"key-{new_id()}") == {"jobs": 0, "images": 0, "gpu_seconds": 0.0}
