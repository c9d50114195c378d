"""Per-key limits: a request rate (token bucket) and a cap on unfinished jobs, both answered with 429, each the
key's own or its account's plan's (services/billing/plans.json); and the plan's monthly included images (402).

Both hold across any number of API processes on PostgreSQL (db/limits.py): the bucket is a row every replica
spends from, and a job is admitted under a lock on its key, counting the key's unfinished jobs and the admissions
of requests still creating theirs. SQLite deployments are one process, which keeps its buckets in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from api.errors import ApiError
from comfy_platform.settings import Settings
from db import limits as limit_queries
from db.models import ApiKey
from services.billing.usage import Entitlements, admit_api_job
from services.jobs import JobEnv

# A client told to come back later than this is better off retrying sooner and being told again.
MAX_RETRY_AFTER_S = 60
# There is no knowing when a running job ends; this is how often it is worth asking again.
JOBS_RETRY_AFTER_S = 5
# An admission a crashed API process never ended stops counting after this (a request that creates a job takes
# seconds: input fetches are bounded by URL_FETCH_TIMEOUT_S).
ADMISSION_TTL_S = 600
_SQLITE_ADMISSIONS = asyncio.Lock()


class RateLimited(ApiError):
    status_code = 429
    code = "rate_limited"


class TooManyJobs(ApiError):
    status_code = 429
    code = "too_many_jobs"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per key: `per_minute` tokens at most, refilled evenly over a minute, one spent per request."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key_id: str, per_minute: int) -> float:
        """Spend a token: 0.0 when allowed, otherwise the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.setdefault(key_id, _Bucket(tokens=float(per_minute), updated=now))
        rate = per_minute / 60.0
        # min(): a key whose limit was lowered does not keep a bucket larger than its new limit.
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


class SharedRateLimiter:
    """The same buckets in PostgreSQL, spent by every API replica (db/limits.py)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def take(self, key_id: str, per_minute: int) -> float:
        async with self.sessionmaker() as session, session.begin():
            spent = await limit_queries.spend_token(session, key_id, per_minute)
        return spent.wait_s


def _limiter(request: HTTPConnection) -> RateLimiter | SharedRateLimiter:
    # One limiter per app, made on first use, so each test app (and each process) starts with full buckets.
    state = request.app.state
    if getattr(state, "rate_limiter", None) is None:
        shared = state.settings.database_url.startswith("postgresql")
        state.rate_limiter = SharedRateLimiter(state.sessionmaker) if shared else RateLimiter()
    return state.rate_limiter


async def enforce_rate_limit(request: HTTPConnection, key: ApiKey, settings: Settings) -> None:
    """Spend one of the key's requests (authentication does this for every request)."""
    plan = await request.app.state.entitlements.of(key.account_id)
    per_minute = key.rate_limit_per_minute or plan.plan.api_rate_limit_per_minute
    limiter = _limiter(request)
    wait = await limiter.take(key.id, per_minute) if isinstance(limiter, SharedRateLimiter) else \
        limiter.take(key.id, per_minute)
    if wait > 0:
        retry_after = min(math.ceil(wait), MAX_RETRY_AFTER_S)
        raise RateLimited(f"this API key is limited to {per_minute} requests per minute; retry in {retry_after} s",
                          details={"limit_per_minute": per_minute, "retry_after": retry_after},
                          headers={"Retry-After": str(retry_after)})


async def admit_job(key: ApiKey, env: JobEnv, entitlements: Entitlements, job_id: str) -> None:
    """Refuse a new job while the key already has its maximum of queued or running jobs, or once its account's
    plan has no more images this month (and does not bill past them). Admitted, `job_id` counts against the key
    until `end_admission` (call it when the request ends, whatever became of the job)."""
    plan = await entitlements.of(key.account_id)
    limit = key.max_concurrent_jobs or plan.plan.api_max_concurrent_jobs
    # PostgreSQL serializes admissions of a key with a lock of its own; SQLite is one process, serialized here.
    async with _SQLITE_ADMISSIONS if env.settings.database_url.startswith("sqlite") else contextlib.nullcontext():
        async with env.sessionmaker() as session, session.begin():
            # One session for all the limits; a job past the plan's images is refused before it is admitted.
            await admit_api_job(session, key.account_id, plan, env.settings)
            unfinished = await limit_queries.admit(session, key.id, job_id, limit, ADMISSION_TTL_S)
    if unfinished is not None:
        raise TooManyJobs(f"this API key already has {unfinished} unfinished jobs (its limit is {limit}); "
                          "wait for one to finish or cancel one",
                          details={"limit": limit, "unfinished": unfinished, "retry_after": JOBS_RETRY_AFTER_S},
                          headers={"Retry-After": str(JOBS_RETRY_AFTER_S)})


async def end_admission(env: JobEnv, job_id: str) -> None:
    async with env.sessionmaker() as session, session.begin():
        await limit_queries.end_admission(session, job_id)
