"""Job queries shared by the API and the activities. Each takes an AsyncSession and flushes; the caller commits.

Writes are safe to repeat, because Temporal retries activities: create_job returns the existing row, finish_job
never moves a job out of a terminal state, upserts outputs and bills a job at most once.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, case, delete, func, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from comfy_platform.statuses import TERMINAL_STATUSES, JobStatus
from comfy_platform.stored_files import StoredFile
from db.models import Job, JobInput, JobOutput, UtcDateTime, new_id, utcnow
from db.session import dialect_insert
from db.usage import owner_filters, record_usage, usage_summary

__all__ = [
    "CreatedJob", "InvalidCursor", "JobConflict", "JobNotFound", "NewJob", "clear_start_payload", "count_ahead",
    "count_unfinished", "unfinished_count",
    "create_job", "create_jobs", "delete_unstarted_job", "find_by_idempotency_key", "finished_among", "finish_job",
    "get_job", "jobs_awaiting_start", "list_job_inputs", "list_job_outputs", "list_jobs", "outputs_of_jobs",
    "mark_job_running", "recent_run_seconds", "set_job_progress", "usage_summary",
]

# What a repeated finish_job rewrites of an output it stored before: the stored file.
OUTPUT_FIELDS = tuple(f.name for f in dataclasses.fields(StoredFile))
# finish_job notifies this channel with the job's id on PostgreSQL (delivered when its transaction commits):
# the API's JobWatcher wakes the requests waiting for that job.
JOB_FINISHED_CHANNEL = "job_finished"


class JobNotFound(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} does not exist")
        self.job_id = job_id


class JobConflict(Exception):
    """A new job collided with another job's unique workflow_id."""


class InvalidCursor(ValueError):
    pass


async def create_job(session: AsyncSession, *, inputs: Iterable[StoredFile] = (), **fields: Any) -> Job:
    """Insert a job (and its input files). An existing job with the same id, or with the same (api_key_id,
    idempotency_key), is returned instead of a new one."""
    fields.setdefault("id", new_id())
    [result] = await create_jobs(session, [NewJob(fields, list(inputs))])
    if isinstance(result, JobConflict):
        raise result
    return result.job


@dataclass
class NewJob:
    """One job for create_jobs: the Job columns (`id` included) and its inputs, as create_job takes them."""

    fields: dict[str, Any]
    inputs: list[StoredFile] = field(default_factory=list)


class CreatedJob(NamedTuple):
    job: Job
    inserted: bool  # False: the job already existed (same id, or same api key and idempotency key)


async def create_jobs(session: AsyncSession, jobs: list[NewJob]) -> list[CreatedJob | JobConflict]:
    """create_job for many jobs in two statements when all are new (given the same columns); in order, each the
    row, new or the existing one with its id or idempotency key, or a JobConflict when another job holds its
    workflow_id.

    Why: every statement is a round trip to the database, and on SQLite every one of them is made while holding
    its single write lock. Jobs submitted together are written together (services/jobs.py)."""
    inserted: dict[str, Job] = {}
    # A multi-row INSERT takes its columns from the first row: one INSERT per set of columns given.
    for columns in dict.fromkeys(frozenset(job.fields) for job in jobs):
        # In one order (key, idempotency key, id): two batches taking the same unique keys cannot deadlock.
        values = sorted((job.fields for job in jobs if frozenset(job.fields) == columns),
                        key=lambda f: (f.get("api_key_id") or "", f.get("idempotency_key") or "", f["id"]))
        rows = await session.scalars(dialect_insert(session, Job).values(values).on_conflict_do_nothing()
                                     .returning(Job).execution_options(populate_existing=True))
        inserted.update((row.id, row) for row in rows)
    input_rows = [_input_row(job.fields["id"], file)
                  for job in jobs if job.fields["id"] in inserted for file in job.inputs]
    if input_rows:
        await session.execute(dialect_insert(session, JobInput).values(input_rows).on_conflict_do_nothing())
    results: list[CreatedJob | JobConflict] = []
    for job in jobs:
        if job.fields["id"] in inserted:
            results.append(CreatedJob(inserted[job.fields["id"]], True))
            continue
        existing = await _existing_job(session, job.fields)  # rare: a repeated id or idempotency key
        results.append(CreatedJob(existing, False) if existing is not None else JobConflict(
            f"workflow_id {job.fields.get('workflow_id')!r} already belongs to another job"))
    return results


def _input_row(job_id: str, file: StoredFile) -> dict[str, Any]:
    """A JobInput row: named by the file name the graph's loader reads; an input's pixel size is not kept."""
    return {"job_id": job_id, "name": file.filename, "storage_key": file.storage_key,
            "content_type": file.content_type, "size": file.size}


async def _existing_job(session: AsyncSession, fields: Mapping[str, Any]) -> Job | None:
    """The job a refused insert collided with, if it is the same job: same id, or same key and idempotency key."""
    job = await session.get(Job, fields["id"], populate_existing=True)
    if job is None and fields.get("idempotency_key") is not None:
        job = await find_by_idempotency_key(session, fields.get("api_key_id"), fields["idempotency_key"])
    return job


async def find_by_idempotency_key(session: AsyncSession, api_key_id: str | None, idempotency_key: str) -> Job | None:
    """The job an API key created under this Idempotency-Key, if any."""
    return await session.scalar(select(Job).where(Job.api_key_id == api_key_id,
                                                  Job.idempotency_key == idempotency_key)
                                .execution_options(populate_existing=True))


def unfinished_count(api_key_id: str) -> Select:
    """The query counting an API key's jobs that are queued or running (to use inside a larger statement)."""
    return select(func.count(Job.id)).where(
        Job.api_key_id == api_key_id, Job.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))


async def count_unfinished(session: AsyncSession, api_key_id: str) -> int:
    """An API key's jobs that are queued or running."""
    return await session.scalar(unfinished_count(api_key_id))


async def count_ahead(session: AsyncSession, job: Job) -> int:
    """Unfinished jobs created before this one (by created_at, then id): those the fleet takes first. One count
    over ix_jobs_status_created_at."""
    return await session.scalar(select(func.count(Job.id)).where(
        Job.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)),
        or_(Job.created_at < job.created_at, and_(Job.created_at == job.created_at, Job.id < job.id))))


async def recent_run_seconds(session: AsyncSession, limit: int = 25) -> list[float]:
    """How long ComfyUI ran the last `limit` succeeded jobs, in seconds (its execution window)."""
    rows = await session.execute(
        select(Job.comfy_started_at, Job.comfy_finished_at)
        .where(Job.status == JobStatus.SUCCEEDED.value, Job.comfy_started_at.is_not(None),
               Job.comfy_finished_at.is_not(None))
        .order_by(Job.created_at.desc()).limit(limit))
    return [max(0.0, (end - start).total_seconds()) for start, end in rows]


async def finished_among(session: AsyncSession, job_ids: list[str]) -> list[str]:
    """Those of `job_ids` whose row is final."""
    return list(await session.scalars(select(Job.id).where(Job.id.in_(job_ids), Job.status.in_(TERMINAL_STATUSES))))


async def delete_unstarted_job(session: AsyncSession, job_id: str) -> list[str] | None:
    """Remove a job whose workflow never started (still queued, its start payload still there), with its inputs;
    the storage keys of those inputs, or None when the job was kept (started meanwhile, or gone)."""
    keys = list(await session.scalars(select(JobInput.storage_key).where(JobInput.job_id == job_id)))
    removed = await session.execute(
        delete(Job).where(Job.id == job_id, Job.start_payload.is_not(None), Job.status == JobStatus.QUEUED.value)
        .execution_options(synchronize_session=False))
    if not removed.rowcount:
        return None
    await session.execute(delete(JobInput).where(JobInput.job_id == job_id))
    return keys


async def jobs_awaiting_start(session: AsyncSession, created_before: datetime, limit: int = 200) -> list[Job]:
    """Unfinished jobs still holding their start payload, oldest first: submissions a crash may have cut short
    (and jobs that simply run longer than the grace)."""
    query = (select(Job).where(Job.start_payload.is_not(None), Job.created_at < _time(created_before))
             .order_by(Job.created_at).limit(limit))
    return list(await session.scalars(query))


async def clear_start_payload(session: AsyncSession, job_id: str) -> None:
    await session.execute(update(Job).where(Job.id == job_id).values(start_payload=None)
                          .execution_options(synchronize_session=False))


async def get_job(session: AsyncSession, job_id: str) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def list_job_inputs(session: AsyncSession, job_id: str) -> list[JobInput]:
    return list(await session.scalars(select(JobInput).where(JobInput.job_id == job_id).order_by(JobInput.name)))


async def list_job_outputs(session: AsyncSession, job_id: str) -> list[JobOutput]:
    return (await outputs_of_jobs(session, [job_id]))[job_id]


async def outputs_of_jobs(session: AsyncSession, job_ids: list[str]) -> dict[str, list[JobOutput]]:
    """Each job's outputs, in node and index order, in one query (a page of jobs lists them all)."""
    found: dict[str, list[JobOutput]] = {job_id: [] for job_id in job_ids}
    query = select(JobOutput).where(JobOutput.job_id.in_(job_ids)).order_by(JobOutput.node_id, JobOutput.index)
    for output in await session.scalars(query):
        found[output.job_id].append(output)
    return found


async def mark_job_running(
    session: AsyncSession, job_id: str, *, backend: str | None, prompt_id: str | None,
    started_at: datetime | None = None, running: bool = True, requeues: int | None = None,
) -> Job:
    """Record that the job runs (or, with `running` False, only where its prompt is queued), and where. The
    UPDATE is conditional, so a finished job is left alone even when this races finish_job; a retried start
    keeps the first started_at, and an unknown backend keeps the known one."""
    values: dict[str, Any] = {"backend": func.coalesce(backend, Job.backend),
                              "prompt_id": func.coalesce(prompt_id, Job.prompt_id)}
    if running:
        values.update(status=JobStatus.RUNNING.value,
                      started_at=func.coalesce(Job.started_at, _time(started_at or utcnow())))
    if requeues is not None:
        values["prompt_requeues"] = requeues
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.not_in(TERMINAL_STATUSES))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return await _reloaded(session, job_id)


async def set_job_progress(session: AsyncSession, job_id: str, progress: float) -> None:
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.not_in(TERMINAL_STATUSES))
        .values(progress=min(max(progress, 0.0), 1.0))
        .execution_options(synchronize_session=False)
    )


async def finish_job(
    session: AsyncSession,
    job_id: str,
    *,
    status: JobStatus,
    outputs: Iterable[Mapping[str, Any]] = (),
    error: dict[str, Any] | None = None,
    comfy_started_at: datetime | None = None,
    comfy_finished_at: datetime | None = None,
    finished_at: datetime | None = None,
    backend: str | None = None,
    prompt_id: str | None = None,
    prompt_requeues: int = 0,
    progress: float | None = None,
    queue_wait_ms: int | None = None,
    model_load: bool | None = None,
) -> Job:
    """Move the job to a terminal status, store its outputs (dicts keyed like JobOutput, as dataclasses.asdict
    gives a JobOutputRef) and its usage row.

    `backend` and `prompt_id` say where it ran, for a job that was never marked running."""
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"finish_job needs a terminal status, not {status!r}")
    # One UPDATE decides the race on both databases: the status fields change only while the job is not yet
    # final, so the first finish wins, a late "succeeded" cannot undo a cancel and a retry cannot rewrite the
    # result. No read-then-write, no row lock needed. Where and when it ran is kept from whichever call first
    # knew it. One statement returning the row, because on SQLite each one is made holding the write lock.
    final = Job.status.in_(TERMINAL_STATUSES)

    def unless_final(column, value):
        return case((final, column), else_=value)

    changes: dict[str, Any] = {"status": unless_final(Job.status, status),
                               "error": unless_final(Job.error, literal(error, Job.error.type)),
                               "finished_at": unless_final(Job.finished_at, _time(finished_at or utcnow()))}
    if status == JobStatus.SUCCEEDED:
        changes["progress"] = unless_final(Job.progress, 1.0)
    elif progress is not None:  # where a cancelled or failed job got: kept, so it never reads as going back
        changes["progress"] = unless_final(Job.progress, min(max(progress, 0.0), 0.99))
    job = await session.scalar(
        update(Job)
        .where(Job.id == job_id)
        .values(
            **changes,
            comfy_started_at=func.coalesce(Job.comfy_started_at, _time(comfy_started_at)),
            comfy_finished_at=func.coalesce(Job.comfy_finished_at, _time(comfy_finished_at)),
            started_at=func.coalesce(Job.started_at, _time(comfy_started_at)),
            # The prompt that ran (after a re-queue, not the one first recorded), else what was known.
            backend=unless_final(Job.backend, func.coalesce(backend, Job.backend)),
            prompt_id=unless_final(Job.prompt_id, func.coalesce(prompt_id, Job.prompt_id)),
            prompt_requeues=unless_final(Job.prompt_requeues, prompt_requeues),
            queue_wait_ms=unless_final(Job.queue_wait_ms, func.coalesce(queue_wait_ms, Job.queue_wait_ms)),
            model_load=unless_final(Job.model_load, func.coalesce(model_load, Job.model_load)),
            start_payload=null(),  # its workflow has run: nothing is left to start
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if job is None:
        raise JobNotFound(job_id)
    outputs = list(outputs)
    await _upsert_outputs(session, job_id, outputs)
    await record_usage(session, job, images=len(outputs))
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(JOB_FINISHED_CHANNEL, job_id)))
    return job


def _time(value: datetime | None):
    # Typed bind, so the UTC conversion of UtcDateTime applies inside coalesce() too.
    return literal(value, UtcDateTime())


async def _reloaded(session: AsyncSession, job_id: str) -> Job:
    job = await session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise JobNotFound(job_id)
    return job


async def _upsert_outputs(session: AsyncSession, job_id: str, outputs: list[Mapping[str, Any]]) -> None:
    if not outputs:
        return
    rows = [{"width": None, "height": None, **item, "id": new_id(), "job_id": job_id} for item in outputs]
    insert = dialect_insert(session, JobOutput).values(rows)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["job_id", "node_id", "index"],
            set_={name: insert.excluded[name] for name in OUTPUT_FIELDS},
        )
    )


async def list_jobs(
    session: AsyncSession,
    *,
    api_key_id: str | None = None,
    user_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    api_key_ids: list[str] | None = None,
) -> tuple[list[Job], str | None]:
    """Newest first. Keyset pagination on (created_at, id): pages stay stable while new jobs arrive.
    `api_key_ids`: the jobs of any of these keys (an account's keys, for its developer console)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    query = query.where(*owner_filters(Job, api_key_id, user_id))
    if api_key_ids is not None:
        query = query.where(Job.api_key_id.in_(api_key_ids))
    if status is not None:
        query = query.where(Job.status == status)
    if cursor:
        created_at, job_id = _decode_cursor(cursor)
        query = query.where(or_(Job.created_at < created_at, and_(Job.created_at == created_at, Job.id < job_id)))
    rows = list(await session.scalars(query))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, _encode_cursor(rows[-1])


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, job_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        parsed = datetime.fromisoformat(created_at)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor(f"invalid cursor {cursor!r}") from exc
    if parsed.tzinfo is None or not isinstance(job_id, str):
        raise InvalidCursor(f"invalid cursor {cursor!r}")
    return parsed, job_id
