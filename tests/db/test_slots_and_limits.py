"""Slot leases and job admissions in the database, on SQLite and PostgreSQL: what makes them hold across
processes (tests/ops/test_scale_out.py runs the processes)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import update

from db import limits as limit_queries
from db import slots as slot_queries
from db.models import ComfySlotLease, utcnow
from db.session import create_sessionmaker


def backends() -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"http://gpu-{tag}-a:8188", f"http://gpu-{tag}-b:8188"]


async def take(sessionmaker, job_id: str, candidates: list[str], **kw) -> str | None:
    async with sessionmaker() as session, session.begin():
        taken = await slot_queries.take_slot(session, job_id, candidates, 2, "worker", 60, **kw)
        return taken.backend if taken is not None else None


async def test_backends_fill_least_busy_first_and_refuse_past_their_slots(db_engine):
    sessionmaker, urls = create_sessionmaker(db_engine), backends()
    taken = [await take(sessionmaker, uuid.uuid4().hex, urls) for _ in range(5)]
    assert taken[:4].count(urls[0]) == 2 and taken[:4].count(urls[1]) == 2
    assert taken[4] is None


async def test_a_retry_that_found_its_prompt_takes_its_lease_over_without_counting_twice(db_engine):
    sessionmaker, urls = create_sessionmaker(db_engine), backends()
    job = uuid.uuid4().hex
    assert await take(sessionmaker, job, urls[:1]) == urls[0]
    assert await take(sessionmaker, uuid.uuid4().hex, urls[:1]) == urls[0]
    assert await take(sessionmaker, job, urls[:1], force=urls[0]) == urls[0]  # its own prompt, already there
    async with sessionmaker() as session:
        assert (await slot_queries.leases_by_backend(session, urls))[urls[0]] == 2


async def test_a_lease_nobody_renews_expires_and_frees_its_slot(db_engine):
    sessionmaker, urls = create_sessionmaker(db_engine), backends()
    dead = [uuid.uuid4().hex, uuid.uuid4().hex]
    for job in dead:
        await take(sessionmaker, job, urls[:1])
    assert await take(sessionmaker, uuid.uuid4().hex, urls[:1]) is None
    async with sessionmaker() as session, session.begin():
        await session.execute(update(ComfySlotLease).where(ComfySlotLease.job_id == dead[0])
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await take(sessionmaker, uuid.uuid4().hex, urls[:1]) == urls[0]


async def test_concurrent_admissions_of_one_key_stop_at_its_limit(db_engine, database_url):
    sessionmaker, key = create_sessionmaker(db_engine), uuid.uuid4().hex

    async def admit() -> bool:
        async with sessionmaker() as session, session.begin():
            return await limit_queries.admit(session, key, uuid.uuid4().hex, 3, 600) is None

    if database_url.startswith("sqlite"):  # one process: the API serializes them itself (api/limits.py)
        results = [await admit() for _ in range(8)]
    else:
        results = await asyncio.gather(*(admit() for _ in range(8)))
    assert sum(results) == 3
