"""Per-key limits that hold across API replicas: a request-rate token bucket (PostgreSQL) and job admissions.

Both serialize on the database rather than in a process: the bucket is spent in one upsert, which PostgreSQL runs
one at a time per key; an admission counts a key's unfinished jobs and admissions under a transaction-scoped
advisory lock on the key, so two replicas cannot both see room for the last job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, exists, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.jobs import unfinished_count
from db.models import Job, JobAdmission, RateLimitBucket, utcnow

# The database's clock in epoch seconds: every replica measures refills against the same one.
_DB_NOW = literal_column("extract(epoch from clock_timestamp())")


@dataclass
class Spent:
    allowed: bool
    wait_s: float  # until a token is there again, when not allowed


async def spend_token(session: AsyncSession, key_id: str, per_minute: int) -> Spent:
    """Spend one of the key's requests from its bucket (PostgreSQL only): `per_minute` tokens at most, refilled
    evenly over a minute. One statement, so concurrent requests on any replica each see the one before."""
    rate = per_minute / 60.0
    bucket = RateLimitBucket.__table__
    table = pg_insert(bucket)
    refilled = func.least(float(per_minute), bucket.c.tokens + (_DB_NOW - bucket.c.updated_at) * rate)
    statement = table.values(key_id=key_id, tokens=float(per_minute) - 1.0, updated_at=_DB_NOW, allowed=True) \
        .on_conflict_do_update(index_elements=[bucket.c.key_id], set_={
            "tokens": case((refilled >= 1.0, refilled - 1.0), else_=refilled),
            "updated_at": _DB_NOW,
            "allowed": refilled >= 1.0,
        }).returning(bucket.c.tokens, bucket.c.allowed)
    tokens, allowed = (await session.execute(statement)).one()
    return Spent(allowed=allowed, wait_s=0.0 if allowed else (1.0 - tokens) / rate)


async def admit(session: AsyncSession, api_key_id: str, job_id: str, limit: int, ttl_s: float) -> int | None:
    """Record an admission for `job_id` unless the key already has `limit` unfinished jobs and admissions; the
    count it found when refused (None when admitted). Call inside a transaction: the lock is held until it ends."""
    if session.bind.dialect.name == "postgresql":
        lock = int.from_bytes(hashlib.sha256(f"admit:{api_key_id}".encode()).digest()[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})
    now = utcnow()
    # One statement, so one snapshot: counted in two, a job recorded between them would be in neither count (not
    # yet among the unfinished jobs, no longer a pending admission) and one more job than the limit admitted.
    unfinished = unfinished_count(api_key_id)
    # Admissions whose job has been recorded are already among its unfinished jobs.
    pending = select(func.count()).select_from(JobAdmission).where(
        JobAdmission.api_key_id == api_key_id, JobAdmission.expires_at > now,
        ~exists().where(Job.id == JobAdmission.job_id))
    counted = await session.scalar(select(unfinished.scalar_subquery() + pending.scalar_subquery()))
    if counted >= limit:
        return counted
    session.add(JobAdmission(job_id=job_id, api_key_id=api_key_id, expires_at=now + timedelta(seconds=ttl_s)))
    return None


async def end_admission(session: AsyncSession, job_id: str) -> None:
    """The request that was admitted is over: its job is recorded (and counted as such) or was never made."""
    await session.execute(delete(JobAdmission).where(JobAdmission.job_id == job_id))


async def drop_expired_admissions(session: AsyncSession, now: datetime | None = None) -> None:
    await session.execute(delete(JobAdmission).where(JobAdmission.expires_at <= (now or utcnow())))
