"""Recording jobs: concurrent submissions share one transaction and still each get their own answer."""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from comfy_platform.temporal import connect
from db.jobs import JobConflict, NewJob
from db.models import new_id
from db.session import create_sessionmaker
from presets import resolve_graph
from services.jobs import JobOptions, JobWriter, TemporalUnavailable, submit_job
from tests.helpers.images import empty_image_graph


def fields(**overrides) -> dict:
    job_id = new_id()
    return {"id": job_id, "workflow_id": f"gen-{job_id}", "status": "queued", "product": "api", "source": "graph",
            "api_key_id": "key-1", "params": {}, "metadata_": {}, **overrides}


async def test_jobs_submitted_together_are_written_in_one_transaction(db_engine: AsyncEngine):
    writer = JobWriter(create_sessionmaker(db_engine))
    commits: list = []
    count = commits.append
    event.listen(db_engine.sync_engine, "commit", count)
    try:
        jobs = [fields() for _ in range(20)]
        rows = await asyncio.gather(*(writer.create(NewJob(job)) for job in jobs))
    finally:
        event.remove(db_engine.sync_engine, "commit", count)
    assert [row.job.id for row in rows] == [job["id"] for job in jobs] and all(row.inserted for row in rows)
    assert len(commits) == 1


async def test_a_job_that_cannot_be_written_fails_alone(db_engine: AsyncEngine):
    writer = JobWriter(create_sessionmaker(db_engine))
    taken, _ = await writer.create(NewJob(fields()))
    good, clash, broken = fields(), fields(workflow_id=taken.workflow_id), fields(status="no-such-status")
    results = await asyncio.gather(*(writer.create(NewJob(job)) for job in (good, clash, broken)),
                                   return_exceptions=True)
    assert results[0].job.id == good["id"]
    assert isinstance(results[1], JobConflict)
    assert isinstance(results[2], Exception) and not isinstance(results[2], JobConflict)
    assert (await writer.create(NewJob(fields()))).job.status == "queued"  # and the writer goes on


async def test_a_job_queued_as_the_last_writer_finishes_is_still_written(db_engine: AsyncEngine):
    writer = JobWriter(create_sessionmaker(db_engine))
    for _ in range(3):  # each create resumes while the writer that served the last one is just finishing
        async with asyncio.timeout(10):  # not wait_for: its extra task would hide the window
            created = await writer.create(NewJob(fields()))
        assert created.inserted


async def test_one_writer_per_sessionmaker_and_event_loop(db_engine: AsyncEngine):
    sessionmaker = create_sessionmaker(db_engine)
    assert JobWriter.of(sessionmaker) is JobWriter.of(sessionmaker)
    assert JobWriter.of(create_sessionmaker(db_engine)) is not JobWriter.of(sessionmaker)



async def test_a_job_temporal_does_not_take_is_taken_back_so_the_same_request_later_runs_it(platform, temporal_client):
    elsewhere = await connect(platform.settings, namespace="no-such-namespace")
    job_id = new_id()
    job = resolve_graph(empty_image_graph(color=random.randrange(1 << 24)), set())
    options = JobOptions.from_settings(platform.settings, product="cli")
    with pytest.raises(TemporalUnavailable):
        await submit_job(dataclasses.replace(platform.job_env, temporal=elsewhere), job, {}, options, job_id=job_id)
    assert await platform.job(job_id) is None  # nothing that a retry would find and trip over

    again = await submit_job(platform.job_env, job, {}, options, job_id=job_id)
    assert again.created
    assert (await again.handle.result()).status == "succeeded"
    row = await platform.job(job_id)
    assert row.status == "succeeded" and row.start_payload is None
