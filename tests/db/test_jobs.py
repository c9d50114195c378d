"""Job queries, run on SQLite and PostgreSQL through the parametrized `db_session`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.stored_files import StoredFile
from db.jobs import (
    JobConflict,
    JobNotFound,
    NewJob,
    create_job,
    create_jobs,
    finish_job,
    get_job,
    list_job_inputs,
    list_job_outputs,
    mark_job_running,
    set_job_progress,
)
from db.models import JobOutput, UsageRecord, new_id

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def job_fields(**overrides) -> dict:
    job_id = overrides.pop("id", new_id())
    return {
        "id": job_id, "product": "api", "source": "preset", "preset": "txt2img", "workflow_id": f"gen-{job_id}",
        "api_key_id": f"key-{new_id()}", "user_id": f"user-{new_id()}", "params": {"prompt": "a cat"},
        **overrides,
    }


def output(node_id: str, index: int, key: str = "") -> dict:
    return {
        "node_id": node_id, "index": index, "storage_key": key or f"jobs/x/{node_id}_{index}.png",
        "filename": f"{node_id}_{index}.png", "content_type": "image/png", "size": 1234, "width": 512, "height": 512,
    }


async def usage_rows(session: AsyncSession, job_id: str) -> int:
    return await session.scalar(select(func.count()).select_from(UsageRecord).where(UsageRecord.job_id == job_id))


async def test_a_new_job_is_queued_with_its_inputs_and_defaults(db_session: AsyncSession):
    inputs = [StoredFile(filename="image", storage_key="inputs/a.png", content_type="image/png", size=10)]
    job = await create_job(db_session, inputs=inputs, **job_fields(metadata_={"source": "test"}))
    await db_session.commit()
    again = await get_job(db_session, job.id)
    assert (again.status, again.progress, again.params, again.metadata_, again.error) == (
        "queued", 0.0, {"prompt": "a cat"}, {"source": "test"}, None
    )
    assert again.created_at.tzinfo == UTC
    assert [i.name for i in await list_job_inputs(db_session, job.id)] == ["image"]


async def test_creating_a_job_again_with_its_id_returns_the_first_one(db_session: AsyncSession):
    fields = job_fields()
    first = await create_job(db_session, **fields)
    await db_session.commit()
    second = await create_job(db_session, **{**fields, "params": {"prompt": "a dog"}})
    assert second.id == first.id and second.params == {"prompt": "a cat"}


async def test_a_repeated_idempotency_key_returns_the_existing_job(db_session: AsyncSession):
    fields = job_fields(idempotency_key="request-1")
    first = await create_job(db_session, **fields)
    await db_session.commit()
    second = await create_job(db_session, **job_fields(api_key_id=fields["api_key_id"], idempotency_key="request-1"))
    assert second.id == first.id


async def test_a_new_job_reusing_another_jobs_workflow_id_is_a_conflict(db_session: AsyncSession):
    first = await create_job(db_session, **job_fields())
    await db_session.commit()
    with pytest.raises(JobConflict):
        await create_job(db_session, **job_fields(workflow_id=first.workflow_id))


async def test_jobs_written_together_resolve_like_one_create_job_each(db_session: AsyncSession):
    existing = await create_job(db_session, **job_fields(idempotency_key="request-1"))
    fresh = job_fields()
    inputs = [StoredFile(filename="photo.png", storage_key="jobs/x/inputs/photo.png", content_type="image/png",
                         size=9)]
    results = await create_jobs(db_session, [
        NewJob(fresh, inputs),
        NewJob(job_fields(id=existing.id)),  # the same id: the existing job
        NewJob(job_fields(api_key_id=existing.api_key_id, idempotency_key="request-1")),  # the same request
        NewJob(job_fields(workflow_id=existing.workflow_id)),  # another job's workflow id
    ])
    assert results[0].inserted and results[0].job.id == fresh["id"] and results[0].job.status == "queued"
    assert [row.name for row in await list_job_inputs(db_session, fresh["id"])] == ["photo.png"]
    assert results[1] == (existing, False) and results[2] == (existing, False)
    assert isinstance(results[3], JobConflict)


async def test_a_job_runs_then_succeeds_with_outputs_and_usage(db_session: AsyncSession):
    job = await create_job(db_session, **job_fields())
    await mark_job_running(db_session, job.id, backend="http://gpu1:8188", prompt_id="p1", started_at=T0)
    await set_job_progress(db_session, job.id, 0.5)
    await db_session.commit()
    assert (await get_job(db_session, job.id)).progress == 0.5
    done = await finish_job(
        db_session, job.id, status="succeeded", outputs=[output("9", 0), output("9", 1)],
        comfy_started_at=T0 + timedelta(seconds=1), comfy_finished_at=T0 + timedelta(seconds=13.5),
        finished_at=T0 + timedelta(seconds=14),
    )
    await db_session.commit()
    assert (done.status, done.progress, done.backend, done.prompt_id) == ("succeeded", 1.0, "http://gpu1:8188", "p1")
    assert (done.started_at, done.finished_at) == (T0, T0 + timedelta(seconds=14))
    assert [(o.node_id, o.index) for o in await list_job_outputs(db_session, job.id)] == [("9", 0), ("9", 1)]
    usage = await db_session.scalar(select(UsageRecord).where(UsageRecord.job_id == job.id))
    assert (usage.images, usage.gpu_seconds, usage.api_key_id, usage.product) == (2, 12.5, job.api_key_id, "api")


async def test_finishing_a_job_twice_bills_once_and_updates_outputs_in_place(db_session: AsyncSession):
    job = await create_job(db_session, **job_fields())
    await finish_job(db_session, job.id, status="succeeded", outputs=[output("9", 0, "old/key.png")])
    await db_session.commit()
    await finish_job(db_session, job.id, status="succeeded", outputs=[output("9", 0, "new/key.png"), output("9", 1)])
    await db_session.commit()
    outputs = await list_job_outputs(db_session, job.id)
    assert [(o.index, o.storage_key) for o in outputs] == [(0, "new/key.png"), (1, "jobs/x/9_1.png")]
    assert await usage_rows(db_session, job.id) == 1


async def test_a_finished_job_keeps_its_terminal_status(db_session: AsyncSession):
    job = await create_job(db_session, **job_fields())
    await finish_job(db_session, job.id, status="cancelled", finished_at=T0)
    await db_session.commit()
    late = await finish_job(
        db_session, job.id, status="failed", error={"code": "comfy_error", "message": "boom", "details": {}}
    )
    assert (late.status, late.error, late.finished_at) == ("cancelled", None, T0)
    restarted = await mark_job_running(db_session, job.id, backend="http://gpu2:8188", prompt_id="p2")
    await set_job_progress(db_session, job.id, 0.3)
    await db_session.commit()
    assert (restarted.status, restarted.backend) == ("cancelled", None)
    assert (await get_job(db_session, job.id)).progress == 0.0


async def test_a_failed_job_records_its_error(db_session: AsyncSession):
    job = await create_job(db_session, **job_fields())
    error = {"code": "comfy_error", "message": "node 3 failed", "details": {"node": "3"}}
    failed = await finish_job(db_session, job.id, status="failed", error=error)
    await db_session.commit()
    assert (failed.status, (await get_job(db_session, job.id)).error) == ("failed", error)


async def test_a_retried_start_keeps_the_first_start_time(db_session: AsyncSession):
    job = await create_job(db_session, **job_fields())
    await mark_job_running(db_session, job.id, backend="http://gpu1:8188", prompt_id="p1", started_at=T0)
    await db_session.commit()
    again = await mark_job_running(
        db_session, job.id, backend="http://gpu2:8188", prompt_id="p2", started_at=T0 + timedelta(minutes=1)
    )
    assert (again.started_at, again.backend, again.prompt_id) == (T0, "http://gpu2:8188", "p2")


async def test_a_late_running_write_leaves_a_job_finished_before_it_started_unchanged(db_session: AsyncSession):
    """A short job is finished without a running write; one that crosses the end must not reopen it."""
    job = await create_job(db_session, **job_fields())
    await finish_job(db_session, job.id, status="succeeded", comfy_started_at=T0, backend="http://gpu1:8188",
                     prompt_id="p1")
    await db_session.commit()
    late = await mark_job_running(db_session, job.id, backend="http://gpu2:8188", prompt_id="p2",
                                  started_at=T0 + timedelta(seconds=5))
    assert (late.status, late.started_at, late.backend, late.prompt_id) == ("succeeded", T0, "http://gpu1:8188", "p1")


async def test_a_running_write_without_a_backend_keeps_the_known_one(db_session: AsyncSession):
    job = await create_job(db_session, **job_fields())
    await mark_job_running(db_session, job.id, backend="http://gpu1:8188", prompt_id="p1", started_at=T0)
    await db_session.commit()
    again = await mark_job_running(db_session, job.id, backend=None, prompt_id=None)
    assert (again.status, again.backend, again.prompt_id, again.started_at) == ("running", "http://gpu1:8188", "p1", T0)


async def test_finish_job_refuses_a_status_that_is_not_terminal(db_session: AsyncSession):
    job = await create_job(db_session, **job_fields())
    with pytest.raises(ValueError):
        await finish_job(db_session, job.id, status="running")


async def test_writing_to_a_missing_job_raises_job_not_found(db_session: AsyncSession):
    with pytest.raises(JobNotFound):
        await mark_job_running(db_session, new_id(), backend="b", prompt_id="p")
    with pytest.raises(JobNotFound):
        await finish_job(db_session, new_id(), status="failed")
    assert await get_job(db_session, new_id()) is None


async def test_datetimes_in_any_zone_come_back_as_utc(db_session: AsyncSession):
    tokyo = timezone(timedelta(hours=9))
    job = await create_job(db_session, **job_fields(created_at=T0.astimezone(tokyo)))
    await db_session.commit()
    db_session.expunge_all()
    loaded = await get_job(db_session, job.id)
    assert loaded.created_at == T0 and loaded.created_at.tzinfo == UTC


async def test_a_naive_datetime_is_refused(db_session: AsyncSession):
    with pytest.raises(Exception, match="naive datetime"):
        await create_job(db_session, **job_fields(created_at=datetime(2026, 1, 1)))
    await db_session.rollback()


async def test_deleting_a_job_removes_its_outputs_but_keeps_its_usage(db_session: AsyncSession):
    job = await create_job(db_session, **job_fields())
    await finish_job(db_session, job.id, status="succeeded", outputs=[output("9", 0)])
    await db_session.commit()
    await db_session.delete(await get_job(db_session, job.id))
    await db_session.commit()
    count = await db_session.scalar(select(func.count()).select_from(JobOutput).where(JobOutput.job_id == job.id))
    assert count == 0
    usage = await db_session.scalar(select(UsageRecord).where(UsageRecord.api_key_id == job.api_key_id))
    assert (usage.job_id, usage.images) == (None, 1)
