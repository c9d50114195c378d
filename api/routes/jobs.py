"""The jobs resource: create (202), read with live progress, list, cancel, and follow as events."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import limits
from api.backpressure import BacklogGauge
from api.deps import (
    BacklogDep,
    EntitlementsDep,
    GenerateKey,
    JobEnvDep,
    JobsKey,
    SessionDep,
    SettingsDep,
    StorageDep,
    TemporalDep,
    authenticate_request,
    check_scope,
)
from api.errors import ApiError, NotFound, database_trouble_of_the_moment
from api.responses import error_responses
from api.schemas import JobCreate, JobsPublic
from comfy_platform.settings import Settings
from comfy_platform.statuses import TERMINAL_STATUSES, JobStatus
from comfy_platform.storable import UnstorableValue, check_storable
from comfy_platform.storage import Storage
from db import billing as billing_queries
from db import jobs as job_queries
from db import webhooks as webhook_queries
from db.models import ApiKey, Job
from db.session import release_before_calling_out
from services import jobs as job_service
from services.billing.usage import Entitlements
from services.job_presenter import JobPublic, job_public
from services.queue_estimate import QueueEstimate, queue_estimate
from workflows.generation import GenerationWorkflow
from workflows.shared import JobProgress

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"])
LIVE_QUERY_TIMEOUT_S = 0.5  # a busy worker must not hold up a read: the stored status stands in
EVENT_POLL_S = 0.5  # ComfyActivities reports progress at most this often
# An empty key is refused (422, like one over 255 characters) rather than read as no key: a client that sends
# one meant to be protected against duplicates, and would not be.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255,
                                              description="a retry with the same key and body returns the same job")]


@router.post("", status_code=202, response_model=JobPublic, summary="Start a job",
             responses={200: {"model": JobPublic, "description": "an Idempotency-Key retry: the job started before"},
                        **error_responses(404, 409)})
async def create_job(body: JobCreate, key: GenerateKey, session: SessionDep, env: JobEnvDep,
                     entitlements: EntitlementsDep, backlog: BacklogDep, idempotency_key: IdempotencyKey = None):
    """Start a job from a preset, a workflow template or a ComfyUI graph; 202 with the job and its Location."""
    job, created = await start_job(body, key, session, env, entitlements, idempotency_key, backlog)
    storage, settings, temporal = env.storage, env.settings, env.temporal
    if created:
        # Nothing to look up: a new job is queued, with no outputs or deliveries, and asking its workflow would
        # wait for a worker to take it.
        public = await job_public(job, [], storage, settings.OUTPUT_URL_TTL_S,
                                  queue=await queue_estimate(session, job, settings))
        return JSONResponse(public.model_dump(mode="json"), 202, headers={"Location": f"/api/v1/jobs/{job.id}"})
    return await job_response(job, session, storage, settings, temporal, status_code=200)


@router.get("", response_model=JobsPublic, summary="List jobs", responses=error_responses(400))
async def read_jobs(key: JobsKey, session: SessionDep, storage: StorageDep, settings: SettingsDep,
                    temporal: TemporalDep, status: JobStatus | None = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None) -> JobsPublic:
    """This key's jobs, newest first; follow `next_cursor` for the next page."""
    try:
        jobs, next_cursor = await job_queries.list_jobs(session, api_key_id=key.id, status=status,
                                                        limit=limit, cursor=cursor)
    except job_queries.InvalidCursor:
        raise ApiError("cursor is not one this API handed out: pass the next_cursor of the page before",
                       code="invalid_cursor", details={"field": "cursor"}) from None
    # Live status of the unfinished ones in parallel; outputs and deliveries of the whole page in one query each.
    lives = await asyncio.gather(*(live_status(temporal, j) for j in jobs))
    ids = [job.id for job in jobs]
    outputs = await job_queries.outputs_of_jobs(session, ids)
    deliveries = await webhook_queries.deliveries_of_jobs(session, ids)
    meters = await billing_queries.meter_reports_of_jobs(session, ids)
    data = [await job_public(job, outputs[job.id], storage, settings.OUTPUT_URL_TTL_S, live, deliveries[job.id],
                             meters.get(job.id), await queue_of(session, job, settings, live))
            for job, live in zip(jobs, lives)]
    return JobsPublic(data=data, count=len(data), next_cursor=next_cursor)


@router.get("/{job_id}", response_model=JobPublic, summary="Read a job", responses=error_responses(404))
async def read_job(job_id: str, key: JobsKey, session: SessionDep, storage: StorageDep, settings: SettingsDep,
                   temporal: TemporalDep) -> JobPublic:
    """The job with live progress while it runs, and output URLs once it succeeded."""
    return await present_job(await owned_job(session, job_id, key), session, storage, settings, temporal)


@router.post("/{job_id}/cancel", status_code=202, response_model=JobPublic, summary="Cancel a job",
             responses={200: {"model": JobPublic, "description": "the job had ended: it is returned unchanged"},
                        **error_responses(404)})
async def cancel_job(job_id: str, key: JobsKey, session: SessionDep, storage: StorageDep, settings: SettingsDep,
                     temporal: TemporalDep):
    """Ask a queued or running job to stop (202); a finished job is returned unchanged (200)."""
    job = await owned_job(session, job_id, key)
    if job.is_terminal:
        return await job_response(job, session, storage, settings, temporal, status_code=200)
    try:
        await temporal.get_workflow_handle(job.workflow_id).cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: the run ended meanwhile and the job shows how
            log.warning("cancel of job %s did not reach Temporal: %s", job.id, exc)
            raise ApiError("the cancel did not reach Temporal; try again", code="temporal_unavailable",
                           status_code=503, headers={"Retry-After": "5"}) from None
    return await job_response(job, session, storage, settings, temporal, status_code=202)


@router.get("/{job_id}/events", summary="Follow a job (Server-Sent Events)",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`progress` events {status, progress, queue_position, "
                                            "estimated_start_at}, then one `job` "
                                            "event with the finished job. The same path speaks WebSocket."},
                        **error_responses(404)})
async def read_job_events(request: Request, job_id: str, key: JobsKey, session: SessionDep) -> StreamingResponse:
    """Progress as Server-Sent Events until the job ends; a WebSocket on this path streams the same messages."""
    await owned_job(session, job_id, key)
    await release_before_calling_out(session)  # the stream outlives this request's transaction

    async def stream() -> AsyncIterator[str]:
        async for kind, data in job_events(request.app.state, job_id):
            yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.websocket("/{job_id}/events")
async def follow_job(websocket: WebSocket, job_id: str) -> None:
    """The same checks as the HTTP routes; a refusal is a socket closed at once with 4000 + the HTTP status (4401,
    4403, 4404, 4422, 4429, and 4503 when the database does not answer) and the message as its reason (a close
    before accepting would reach clients as a bare 403)."""
    state = websocket.app.state
    async with state.sessionmaker() as session:
        try:
            check_storable(job_id, "job_id")  # the app-wide check (api.deps.storable_request) is for HTTP
            key = await authenticate_request(websocket, session)
            check_scope(key, "jobs")
            await owned_job(session, job_id, key)
        except Exception as exc:  # noqa: BLE001 - refusals and database trouble close the socket; bugs go on
            if isinstance(exc, ApiError):
                code, message = 4000 + exc.status_code, exc.message
            elif isinstance(exc, UnstorableValue):
                code, message = 4422, exc.message
            elif database_trouble_of_the_moment(exc):
                code, message = 4503, "the database did not answer; try again"
            else:
                raise
            await websocket.accept()
            # A close reason holds at most 123 bytes (RFC 6455); the message may quote the client's job id.
            await websocket.close(code=code, reason=message.encode()[:120].decode(errors="ignore"))
            return
    await websocket.accept()
    try:
        async for kind, data in job_events(state, job_id):
            await websocket.send_json(data if kind == "progress" else {"job": data})
        await websocket.close()
    except WebSocketDisconnect:
        pass


async def job_events(state: Any, job_id: str) -> AsyncIterator[tuple[str, dict]]:
    """("progress", {status, progress, queue_position, estimated_start_at}) on every change, then ("job", the finished job).

    The workflow is asked for progress every EVENT_POLL_S, the pace at which the ComfyUI activity reports it;
    the end comes through the API's JobWatcher, the moment the job's row turns final."""
    temporal: Client = await state.temporal.get()
    last = None
    while True:
        async with state.sessionmaker() as session:
            job = await job_queries.get_job(session, job_id)
            if job.is_terminal:
                final = {"status": job.status, "progress": 1.0 if job.status == JobStatus.SUCCEEDED else job.progress,
                         "queue_position": None, "estimated_start_at": None}
                if _changed(final, last):
                    yield "progress", final
                public = await present_job(job, session, state.storage, state.settings, temporal)
                yield "job", public.model_dump(mode="json")
                return
        live = await live_status(temporal, job)  # no database connection held while Temporal answers
        async with state.sessionmaker() as session:
            queue = await queue_of(session, job, state.settings, live)
        now = {"status": live.status if live else job.status, "progress": live.progress if live else job.progress,
               "queue_position": queue.position if queue else None,
               "estimated_start_at": queue.estimated_start_at.isoformat() if queue and queue.estimated_start_at
               else None}
        if _changed(now, last) and now["status"] not in TERMINAL_STATUSES:
            yield "progress", now
            last = now
        await state.job_watcher.wait(job_id, EVENT_POLL_S)


def _changed(now: dict, last: dict | None) -> bool:
    """A new event when status, progress or position moved; the estimated start alone drifts with the clock."""
    return last is None or any(now[key] != last[key] for key in ("status", "progress", "queue_position"))


# --- shared with /generate ----------------------------------------------------------------------------------

async def start_job(body: JobCreate, key: ApiKey, session: AsyncSession, env: job_service.JobEnv,
                    entitlements: Entitlements, idempotency_key: str | None,
                    backlog: BacklogGauge | None = None) -> tuple[Job, bool]:
    """(job, created): a new job, or the one an earlier request with this Idempotency-Key started. A new job is
    admitted first: not while the fleet is overloaded (503), nor past the key's limits (429, 402)."""
    body_hash = hashlib.sha256(json.dumps(body.model_dump(mode="json", exclude={"timeout"}),
                                          sort_keys=True).encode()).hexdigest()
    options = job_service.JobOptions.from_settings(
        env.settings, product="api", api_key_id=key.id, user_id=key.account_id, metadata=body.metadata,
        idempotency_key=idempotency_key, webhook_url=body.webhook_url,
        request_hash=body_hash if idempotency_key is not None else None)
    await release_before_calling_out(session)
    job_id = job_service.new_job_id()  # known before admission, which counts it until its row is written
    admitted = False

    async def admit() -> None:
        nonlocal admitted
        if backlog is not None:
            await backlog.admit()
        await limits.admit_job(key, env, entitlements, job_id)
        admitted = True

    try:
        submission = await job_service.create_job(env, body.spec(), options, job_id=job_id, admit=admit)
    finally:
        if admitted:
            await asyncio.shield(limits.end_admission(env, job_id))
    return submission.job, submission.created


async def owned_job(session: AsyncSession, job_id: str, key: ApiKey) -> Job:
    job = await job_queries.get_job(session, job_id)
    if job is None or job.api_key_id != key.id:  # another key's job is as unknown as one that never existed
        raise NotFound(f"job '{job_id}' does not exist", code="job_not_found")
    return job


async def live_status(temporal: Client, job: Job) -> JobProgress | None:
    """The workflow's own view while the job runs. When it cannot answer (not started yet, ended meanwhile,
    Temporal or the worker slow: a cancel keeps a worker busy), its last answer to this process stands, so the
    progress a client sees never falls back to the row's; None when there is none (the row stands)."""
    if job.is_terminal:
        _last_seen.pop(job.id, None)
        return None
    try:
        handle = temporal.get_workflow_handle_for(GenerationWorkflow.run, job.workflow_id)
        live = await asyncio.wait_for(handle.query(GenerationWorkflow.get_status), LIVE_QUERY_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - see above: a job is still readable
        return _last_seen.get(job.id)
    _last_seen[job.id] = live
    _last_seen.move_to_end(job.id)
    while len(_last_seen) > LAST_SEEN_MAX:
        _last_seen.popitem(last=False)
    return live


# The last live answer of each unfinished job this process asked about, the oldest dropped past LAST_SEEN_MAX.
LAST_SEEN_MAX = 10_000
_last_seen: OrderedDict[str, JobProgress] = OrderedDict()


async def present_job(job: Job, session: AsyncSession, storage: Storage, settings: Settings,
                      temporal: Client | None, live: JobProgress | None = None) -> JobPublic:
    """The job as clients see it. With `temporal`, an unfinished job's live status is asked of its workflow;
    without, the stored status stands (a job just created is queued, and nothing more is known yet)."""
    outputs = await job_queries.list_job_outputs(session, job.id)
    deliveries = await webhook_queries.list_deliveries(session, job.id)
    meter = await billing_queries.get_meter_report(session, job.id)
    if temporal is not None and live is None:
        live = await live_status(temporal, job)
    return await job_public(job, outputs, storage, settings.OUTPUT_URL_TTL_S, live, deliveries, meter,
                            await queue_of(session, job, settings, live))


async def queue_of(session: AsyncSession, job: Job, settings: Settings,
                   live: JobProgress | None) -> QueueEstimate | None:
    """Where the job stands while it is queued (as its workflow or, without one, its row says); None otherwise."""
    status = live.status if live is not None and not job.is_terminal else job.status
    if status != JobStatus.QUEUED:
        return None
    return await queue_estimate(session, job, settings, live.queue_position if live else None)


async def job_response(job: Job, session: AsyncSession, storage: Storage, settings: Settings,
                       temporal: Client | None, status_code: int) -> JSONResponse:
    public = await present_job(job, session, storage, settings, temporal)
    return JSONResponse(public.model_dump(mode="json"), status_code,
                        headers={"Location": f"/api/v1/jobs/{job.id}"})
