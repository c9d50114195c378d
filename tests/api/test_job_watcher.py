"""The generate route's wait: waiters wake when their job's row turns final, and only then (on PostgreSQL by
NOTIFY, on SQLite by polling)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from api.job_watcher import JobWatcher
from db.jobs import create_job, finish_job
from db.models import new_id
from db.session import create_sessionmaker


async def _new_job(sessionmaker) -> str:
    job_id = new_id()
    async with sessionmaker() as session, session.begin():
        await create_job(session, id=job_id, workflow_id=f"gen-{job_id}", product="api", source="graph",
                         status="queued")
    return job_id


async def test_waiters_wake_when_their_job_ends_and_others_keep_waiting(db_engine: AsyncEngine):
    sessionmaker = create_sessionmaker(db_engine)
    # On PostgreSQL the safety poll comes too late for this test: only the NOTIFY can wake the waiters in time.
    watcher = JobWatcher(sessionmaker, safety_interval_s=60)
    ending, running = await _new_job(sessionmaker), await _new_job(sessionmaker)
    try:
        waits = [asyncio.create_task(watcher.wait(ending, 10)), asyncio.create_task(watcher.wait(ending, 10)),
                 asyncio.create_task(watcher.wait(running, 1.0))]
        await asyncio.sleep(0.2)
        assert not any(wait.done() for wait in waits)  # nothing has ended yet
        assert watcher.listening == (db_engine.dialect.name == "postgresql")
        async with sessionmaker() as session, session.begin():
            await finish_job(session, ending, status="succeeded")
        assert await asyncio.wait_for(asyncio.gather(waits[0], waits[1]), 5) == [True, True]
        assert await waits[2] is False  # its job never ended: the wait times out
    finally:
        await watcher.close()
