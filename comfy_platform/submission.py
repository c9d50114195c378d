"""Submitting a job: the one place the CLI, the API and the creator flow record a job and start its
GenerationWorkflow.

A job the API acknowledged always runs, whatever process dies when (README, "Nothing lost at the door"). The row
is written together with what starting its workflow takes (`start_payload`, an outbox in the same row), then the
workflow is started under `gen-<job id>` (a repeated start attaches to the run already going). If the process
dies in between, whoever sees the row next finishes the start: a retry with the job's Idempotency-Key, or the
sweeper (`StartPendingJobsWorkflow`, every 30 s) for rows older than a minute. The payload is cleared when the
job ends. If Temporal cannot be reached, the row is taken back and the caller answered "try again": no state
is left that a retry would trip over.
"""

from __future__ import annotations

import asyncio
import dataclasses
import mimetypes
import os
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from comfy_platform.settings import Settings
from comfy_platform.storage import Storage
from db import jobs as job_queries
from db.models import Job
from presets import ResolvedJob
from workflows.shared import (
    COMFY_TASK_QUEUE,
    GENERATION_WORKFLOW,
    IO_TASK_QUEUE,
    START_SWEEP_EVERY_S,
    START_SWEEPER_SCHEDULE_ID,
    GenerationInput,
    GenerationResult,
    PreparedJob,
    generation_workflow_id,
    typed_search_attributes,
)

def new_job_id() -> str:
    """Time-ordered and unguessable: 12 hex digits of milliseconds, then 16 random ones."""
    return f"{int(time.time() * 1000):012x}{os.urandom(8).hex()}"


@dataclass
class JobOptions:
    product: str = "api"
    user_id: str | None = None
    api_key_id: str | None = None
    metadata: dict | None = None
    idempotency_key: str | None = None
    webhook_url: str | None = None
    heartbeat_timeout_s: float = 20.0
    job_timeout_s: float = 3600.0
    comfy_task_queue: str = COMFY_TASK_QUEUE

    @classmethod
    def from_settings(cls, settings: Settings, **fields: object) -> JobOptions:
        defaults = {"heartbeat_timeout_s": settings.COMFY_HEARTBEAT_TIMEOUT_S,
                    "job_timeout_s": settings.COMFY_JOB_TIMEOUT_S, "comfy_task_queue": settings.COMFY_TASK_QUEUE}
        return cls(**{**defaults, **fields})


@dataclass
class Submission:
    """A submitted job: its row as recorded, whether this call recorded it, and the handle of its workflow."""

    job: Job
    created: bool  # False: the id or idempotency key named a job submitted before, and that job is returned
    handle: WorkflowHandle[Any, GenerationResult]


async def submit_job(
    temporal: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: Storage,
    job: ResolvedJob,
    images: dict[str, Path | bytes],
    options: JobOptions,
    job_id: str | None = None,
) -> Submission:
    """Store `images` (keyed by the user's image names), record the job and start its workflow. Shielded: a
    caller that goes away (a closed request) cannot leave a recorded job whose workflow never starts. Raises
    TemporalUnavailable, having taken the new job back, when Temporal does not take it."""
    prepared, recorded = await asyncio.shield(
        prepare_job(sessionmaker, storage, job, images, options, job_id, outbox=True))
    try:
        handle = await asyncio.shield(start_generation(temporal, prepared))
    except TemporalUnavailable:
        if recorded.inserted:
            await asyncio.shield(_take_back(sessionmaker, storage, prepared.job_id))
        raise
    return Submission(recorded.job, recorded.inserted, handle)


async def start_recorded(temporal: Client, job: Job) -> WorkflowHandle[Any, GenerationResult]:
    """The workflow of a recorded job, started now if its submission was cut short (its row still holds the
    payload); a no-op start, answered with the run going or ended, otherwise."""
    if job.start_payload is None:
        return temporal.get_workflow_handle(job.workflow_id, result_type=GenerationResult)
    return await start_generation(temporal, prepared_from_payload(job.id, job.workflow_id, job.start_payload))


class TemporalUnavailable(Exception):
    """Temporal did not take the job's workflow: nothing was started, try again."""


async def start_generation(temporal: Client, prepared: PreparedJob) -> WorkflowHandle[Any, GenerationResult]:
    """Start the job's GenerationWorkflow, or attach to its run: a workflow id is an idempotency key."""
    try:
        return await temporal.start_workflow(
            GENERATION_WORKFLOW, prepared.input, id=prepared.workflow_id, task_queue=IO_TASK_QUEUE,
            result_type=GenerationResult,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=typed_search_attributes(prepared.search_attributes))
    except WorkflowAlreadyStartedError:
        # The job's run already ended: hand back that run.
        return temporal.get_workflow_handle(prepared.workflow_id, result_type=GenerationResult)
    except (RPCError, RuntimeError) as exc:
        raise TemporalUnavailable(f"Temporal did not take the job ({exc})") from exc


async def _take_back(sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, job_id: str) -> None:
    """Remove a job whose workflow did not start, so that the caller's retry creates it afresh. Kept when its
    workflow was started meanwhile (by the sweeper, or by a start whose reply was lost and then found)."""
    async with sessionmaker() as session, session.begin():
        taken_back = await job_queries.delete_unstarted_job(session, job_id)
    if taken_back:
        for key in taken_back:
            await storage.delete(key)


async def ensure_start_sweeper(temporal: Client) -> None:
    """The Schedule of StartPendingJobsWorkflow, made once for the namespace (every io worker asks)."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow("StartPendingJobsWorkflow", id=START_SWEEPER_SCHEDULE_ID,
                                           task_queue=IO_TASK_QUEUE),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=START_SWEEP_EVERY_S))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=1)),
        state=ScheduleState(note="starts jobs whose submission a crash cut short"))
    try:
        await temporal.create_schedule(START_SWEEPER_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass


def start_payload(prepared: PreparedJob) -> dict[str, Any]:
    """What starting the job's workflow takes, as JSON for the job's row."""
    return {"input": dataclasses.asdict(prepared.input), "search_attributes": prepared.search_attributes}


def prepared_from_payload(job_id: str, workflow_id: str, payload: dict[str, Any]) -> PreparedJob:
    known = {f.name for f in dataclasses.fields(GenerationInput)}
    generation = GenerationInput(**{k: v for k, v in payload["input"].items() if k in known})
    return PreparedJob(job_id, workflow_id, generation, dict(payload.get("search_attributes") or {}))


async def prepare_job(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: Storage,
    job: ResolvedJob,
    images: dict[str, Path | bytes],
    options: JobOptions,
    job_id: str | None = None,
    *,
    outbox: bool = False,
) -> tuple[PreparedJob, job_queries.CreatedJob]:
    """Store the inputs and write the job row (or find the one its id or idempotency key names); what is left is
    starting its GenerationWorkflow, which `submit_job` does from a client and the creator's
    ProcessDriveFileWorkflow does as a child workflow. With `outbox`, the row keeps what the start takes until the
    job ends, so that whoever sees it can finish a start a crash cut short (a child workflow needs none: its
    parent starts it durably)."""
    job_id = job_id or new_job_id()
    inputs: dict[str, str] = {}
    input_rows = []
    for name, source in images.items():
        file_name = job.image_files[name]
        key = f"jobs/{job_id}/inputs/{file_name}"
        content_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        if isinstance(source, Path):
            stored = await storage.put_file(key, source, content_type)
        else:
            stored = await storage.put_bytes(key, source, content_type)
        inputs[file_name] = key
        input_rows.append({"name": file_name, "storage_key": key, "content_type": content_type, "size": stored.size})

    attributes = {"JobId": job_id, "Product": options.product}
    if job.preset:
        attributes["Preset"] = job.preset
    if options.user_id:
        attributes["UserId"] = options.user_id
    generation = GenerationInput(
        job_id=job_id, graph=job.graph, inputs=inputs, product=options.product, preset=job.preset,
        user_id=options.user_id, heartbeat_timeout_s=options.heartbeat_timeout_s,
        job_timeout_s=options.job_timeout_s, comfy_task_queue=options.comfy_task_queue,
        api_key_id=options.api_key_id, webhook_url=options.webhook_url)
    prepared = PreparedJob(job_id, generation_workflow_id(job_id), generation, attributes)
    recorded = await JobWriter.of(sessionmaker).create(job_queries.NewJob(dict(
        id=job_id, workflow_id=prepared.workflow_id, status="queued", product=options.product,
        preset=job.preset, workflow_name=job.workflow, source=job.source, user_id=options.user_id,
        api_key_id=options.api_key_id, params=job.params, metadata_=options.metadata or {},
        idempotency_key=options.idempotency_key, webhook_url=options.webhook_url,
        start_payload=start_payload(prepared) if outbox else None), input_rows))
    if recorded.job.id != job_id:
        # An idempotency key that names a job submitted before: that job, not a second one.
        if recorded.job.start_payload is not None:
            prepared = prepared_from_payload(recorded.job.id, recorded.job.workflow_id, recorded.job.start_payload)
        else:
            prepared = dataclasses.replace(prepared, job_id=recorded.job.id, workflow_id=recorded.job.workflow_id,
                                           input=dataclasses.replace(prepared.input, job_id=recorded.job.id))
    return prepared, recorded


class JobWriter:
    """Writes the rows of jobs submitted at the same time in one transaction: every job that arrives while a
    batch is being written goes into a next one.

    Why: each statement of a write is a round trip through this process's event loop, which under load is busy
    with everyone else's requests, and on SQLite every one of them is made holding its single write lock. Fifty
    clients each writing their own job queued for over a second (bench/api.py); a batch costs about what one job
    did. SQLite gets one batch at a time (one writer); PostgreSQL several, so a slow batch holds up no other."""

    MAX_BATCH = 100
    PARALLEL_BATCHES = 4  # PostgreSQL; a fraction of the connection pool (db/session.py)
    _writers: weakref.WeakKeyDictionary[async_sessionmaker, JobWriter] = weakref.WeakKeyDictionary()

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self.loop = asyncio.get_running_loop()
        self._queue: list[tuple[job_queries.NewJob, asyncio.Future]] = []
        self._writing: set[asyncio.Task] = set()
        bind = sessionmaker.kw.get("bind")
        self.parallel = 1 if bind is None or bind.dialect.name == "sqlite" else self.PARALLEL_BATCHES

    @classmethod
    def of(cls, sessionmaker: async_sessionmaker[AsyncSession]) -> JobWriter:
        """The writer of this sessionmaker in the running event loop (tests run several loops)."""
        writer = cls._writers.get(sessionmaker)
        if writer is None or writer.loop is not asyncio.get_running_loop():
            writer = cls._writers[sessionmaker] = cls(sessionmaker)
        return writer

    async def create(self, job: job_queries.NewJob) -> job_queries.CreatedJob:
        """create_jobs for this one job in a transaction of its own, as far as the caller can tell."""
        done = self.loop.create_future()
        self._queue.append((job, done))
        if len(self._writing) < self.parallel:
            self._writing.add(self.loop.create_task(self._write_all()))
        result = await done
        if isinstance(result, Exception):
            raise result
        return result

    async def _write_all(self) -> None:
        batch: list[tuple[job_queries.NewJob, asyncio.Future]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[:self.MAX_BATCH], self._queue[self.MAX_BATCH:]
                try:
                    async with self.sessionmaker() as session, session.begin():
                        results = await job_queries.create_jobs(session, [job for job, _ in batch])
                except Exception:  # noqa: BLE001 - one job's failure must not fail the others: each alone
                    results = [await self._write_one(job) for job, _ in batch]
                for (_, done), result in zip(batch, results):
                    if not done.done():  # its request may have gone away; the row stays, as a lone write's would
                        done.set_result(result)
                batch = []
        except BaseException as exc:  # cancelled or killed: no caller may wait for an answer that never comes
            stopped = exc if isinstance(exc, Exception) else RuntimeError(f"the job writer stopped: {exc!r}")
            others_left = any(task is not asyncio.current_task() and not task.done() for task in self._writing)
            waiting = batch if others_left else [*batch, *self._queue]
            for _, done in waiting:
                if not done.done():
                    done.set_exception(stopped)
            if not others_left:
                self._queue = []
            raise
        finally:
            # At once, not in a done-callback a loop step later: a job queued in that step would find the
            # writer still counted, start none, and wait for good.
            self._writing.discard(asyncio.current_task())

    async def _write_one(self, job: job_queries.NewJob) -> job_queries.CreatedJob | Exception:
        try:
            async with self.sessionmaker() as session, session.begin():
                return (await job_queries.create_jobs(session, [job]))[0]
        except Exception as exc:  # noqa: BLE001 - handed to the one request it belongs to
            return exc
