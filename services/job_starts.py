"""Starting a job's GenerationWorkflow, and finishing starts that a crash cut short.

A job's row is written together with what starting its workflow takes (`start_payload`, an outbox in the row),
then the workflow is started under `gen-<job id>` (a repeated start attaches to the run already going). If the
process dies in between, whoever sees the row next finishes the start: a retry with the job's Idempotency-Key, or
the sweeper (StartPendingJobsWorkflow on the `job-start-sweeper` Schedule, every 30 s) for rows older than a
minute. The payload is cleared when the job ends.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

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

from db.models import Job
from workflows.shared import (
    GENERATION_WORKFLOW,
    IO_TASK_QUEUE,
    START_SWEEP_EVERY_S,
    START_SWEEPER_SCHEDULE_ID,
    GenerationInput,
    GenerationResult,
    PreparedJob,
    typed_search_attributes,
)


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
    return PreparedJob(job_id=job_id, workflow_id=workflow_id, input=generation,
                       search_attributes=dict(payload.get("search_attributes") or {}))
