"""Synchronous generation: start a job and wait for it, up to a timeout."""

from __future__ import annotations

import time

from fastapi import APIRouter

from api.deps import BacklogDep, EntitlementsDep, GenerateKey, JobEnvDep, JobWatcherDep, SessionDep
from api.responses import error_responses
from api.routes.jobs import IdempotencyKey, job_response, start_job
from api.schemas import GenerateCreate
from db import jobs as job_queries
from services.job_presenter import JobPublic

router = APIRouter(tags=["jobs"])


@router.post("/generate", response_model=JobPublic, summary="Run a job and wait for it",
             responses={202: {"model": JobPublic,
                              "description": "not finished within `timeout`: the job so far, and its Location"},
                        **error_responses(404, 409)})
async def create_generation(body: GenerateCreate, key: GenerateKey, session: SessionDep, env: JobEnvDep,
                            entitlements: EntitlementsDep, watcher: JobWatcherDep, backlog: BacklogDep,
                            idempotency_key: IdempotencyKey = None):
    """The job's body plus `timeout`: 200 with the finished job, or 202 with it (and Location) if still running."""
    # The timeout is the whole request's: what creating the job took (fetching inputs, checking the graph) is
    # not waited again, so no connection is held longer than the client asked.
    deadline = time.monotonic() + body.timeout
    job, _ = await start_job(body, key, session, env, entitlements, idempotency_key, backlog)
    if not job.is_terminal:
        await watcher.wait(job.id, max(0.0, deadline - time.monotonic()))
        job = await job_queries.get_job(session, job.id)
    return await job_response(job, session, env.storage, env.settings, env.temporal,
                              status_code=200 if job.is_terminal else 202)
