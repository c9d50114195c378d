"""JobActivities: the job's row, its outputs and its usage record in the database."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from comfy_platform.statuses import JobStatus
from db import jobs as job_queries
from db.models import SourceKind
from services.job_starts import TemporalUnavailable, start_recorded
from workflows.shared import FinishJobInput, MarkRunningInput, StartPendingJobsInput

log = logging.getLogger(__name__)


class JobActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    @activity.defn
    async def mark_running(self, job: MarkRunningInput) -> None:
        """Record that the job runs, or where its prompt waits. A job already finished keeps its final status
        (finish_job may win the race)."""
        async with self.sessionmaker() as session, session.begin():
            try:
                await job_queries.mark_job_running(session, job.job_id, backend=job.backend, prompt_id=job.prompt_id,
                                                   running=job.running, requeues=job.requeues)
            except job_queries.JobNotFound:
                # A run started outside the API or CLI has no row yet; finish_job creates it at the end.
                log.info("job %s has no row to mark running", job.job_id)

    @activity.defn
    async def finish_job(self, record: FinishJobInput) -> None:
        """Idempotent: a retry finds the job already final and the usage row already there."""
        async with self.sessionmaker() as session, session.begin():
            try:
                await self._finish(session, record)
            except job_queries.JobNotFound:
                # A run started outside the API or CLI (an operator's `temporal workflow start`) has no row yet.
                await job_queries.create_job(
                    session, id=record.job_id, workflow_id=record.workflow_id, product=record.product,
                    preset=record.preset, user_id=record.user_id, source=SourceKind.GRAPH, status=JobStatus.QUEUED)
                await self._finish(session, record)

    @activity.defn
    async def start_pending_jobs(self, request: StartPendingJobsInput) -> int:
        """Start the workflow of every job whose row still holds its start payload past the grace (a submission a
        crash cut short, or a job running that long: its start is then a no-op), and clear the payload."""
        since = datetime.now(timezone.utc) - timedelta(seconds=request.grace_s)
        async with self.sessionmaker() as session:
            waiting = await job_queries.jobs_awaiting_start(session, since)
        started = 0
        for job in waiting:
            try:
                await start_recorded(activity.client(), job)
            except TemporalUnavailable as exc:
                log.warning("job %s still not started: %s", job.id, exc, extra={"job_id": job.id})
                continue
            async with self.sessionmaker() as session, session.begin():
                await job_queries.clear_start_payload(session, job.id)
            started += 1
        if started:
            log.info("started or found started %d jobs whose submission was cut short", started)
        return started

    @staticmethod
    async def _finish(session: AsyncSession, record: FinishJobInput) -> None:
        await job_queries.finish_job(
            session, record.job_id, status=record.status, outputs=[asdict(o) for o in record.outputs],
            error=record.error, backend=record.backend, prompt_id=record.prompt_id,
            prompt_requeues=record.prompt_requeues, progress=record.progress,
            comfy_started_at=_from_ms(record.comfy_started_at_ms),
            comfy_finished_at=_from_ms(record.comfy_finished_at_ms), finished_at=datetime.now(timezone.utc),
            queue_wait_ms=record.queue_wait_ms, model_load=record.model_load)


def _from_ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, timezone.utc) if value is not None else None
