"""GenerationWorkflow: one ComfyUI job, from stored inputs to stored outputs and a job record, exactly once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from activities.comfy import ComfyActivities
    from activities.jobs import JobActivities
    from activities.storage import StorageActivities
    from comfy_platform.statuses import TERMINAL_STATUSES, JobStatus
    from workflows.billing import MeterUsageWorkflow
    from workflows.shared import (
        IO_TASK_QUEUE,
        PROMPT_QUEUED_SIGNAL,
        REPORT_PROGRESS_SIGNAL,
        CheckInputsInput,
        DeliverWebhookInput,
        FinishJobInput,
        GenerationInput,
        GenerationResult,
        JobProgress,
        MarkRunningInput,
        MeterUsageInput,
        PromptQueued,
        RunGraphInput,
        RunGraphOutput,
        meter_workflow_id,
        webhook_id_of,
        webhook_workflow_id,
    )
    from workflows.webhook import WebhookDeliveryWorkflow

# Names the version that records the running transition: runs recorded before it replay without that write.
RECORD_RUNNING_PATCH = "record-running"
# Names the version that hands an API job's usage to MeterUsageWorkflow: runs recorded before it replay without.
METER_USAGE_PATCH = "meter-usage"
# Names the version that writes the backend that ran the job into the run's memo (the Temporal UI shows it).
BACKEND_MEMO_PATCH = "backend-memo"

# Faults of the moment (ComfyUI down, a dropped socket, storage hiccups) retry with backoff; these never do.
NON_RETRYABLE = ["InvalidInput", "ComfyValidationError", "ComfyExecutionError", "ComfyInterrupted"]
INFRA_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                          maximum_interval=timedelta(seconds=30), non_retryable_error_types=NON_RETRYABLE)

# Not sandboxed: the sandbox re-creates this module for every run, which measured ~15 ms of a 60 ms budget per
# job (bench/engine.py). The workflow is small, imports only passed-through modules and does no I/O; the replay
# tests of recorded histories (tests/workflows/test_replay.py) guard its determinism in CI instead.
@workflow.defn(name="GenerationWorkflow", sandboxed=False)
class GenerationWorkflow:
    """Query `get_status` for status and progress; the ComfyUI activity signals `report_progress` as it runs,
    and its first "running" signal moves the job's row to running."""

    @workflow.init
    def __init__(self, job: GenerationInput) -> None:
        # From the input, since a signal handler may run before `run` does.
        self._job_id = job.job_id
        self._state = JobProgress()
        self._running_recorded = False

    @workflow.run
    async def run(self, job: GenerationInput) -> GenerationResult:
        workflow_id = workflow.info().workflow_id
        try:
            # 1. Refuse inputs that are not images before any GPU time is spent.
            if job.inputs:
                await workflow.execute_activity_method(
                    StorageActivities.check_inputs, CheckInputsInput(job_id=job.job_id, inputs=job.inputs),
                    task_queue=IO_TASK_QUEUE, start_to_close_timeout=timedelta(minutes=2), retry_policy=INFRA_RETRY)
            # 2. Run the graph on a ComfyUI backend; outputs land in storage.
            ran: RunGraphOutput = await workflow.execute_activity_method(
                ComfyActivities.run_graph,
                RunGraphInput(job_id=job.job_id, workflow_id=workflow_id, graph=job.graph, inputs=job.inputs,
                              output_prefix=f"jobs/{job.job_id}/outputs", template=job.preset or job.template),
                task_queue=job.comfy_task_queue,
                start_to_close_timeout=timedelta(seconds=job.job_timeout_s),
                schedule_to_close_timeout=timedelta(seconds=job.job_timeout_s),
                heartbeat_timeout=timedelta(seconds=job.heartbeat_timeout_s),
                retry_policy=INFRA_RETRY,
                # Wait for the activity to dequeue or interrupt its prompt before the job is called cancelled.
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except Exception as err:  # noqa: BLE001 - every failure is recorded on the job, then re-raised
            if is_cancelled_exception(err):
                await self._finish(job, JobStatus.CANCELLED,
                                   error={"code": "cancelled", "message": "the job was cancelled"})
                await self._notify(job)
                raise
            error = _error_of(err)
            await self._finish(job, JobStatus.FAILED, error=error)
            await self._notify(job)
            raise ApplicationError(error["message"], error, type=error["code"], non_retryable=True) from err
        # 3. Record the job, its outputs and one usage row; the run's memo says where it ran.
        if workflow.patched(BACKEND_MEMO_PATCH):
            workflow.upsert_memo({"backend": ran.backend, "queue_wait_ms": ran.queue_wait_ms,
                                  "model_load": ran.model_load})
        await self._finish(job, JobStatus.SUCCEEDED, ran=ran)
        # 4. Tell the job's webhook, if it has one.
        await self._notify(job)
        # 5. An API job's use past its plan's included images is billed by use, in a run of its own.
        if job.product == "api" and workflow.patched(METER_USAGE_PATCH):
            await self._meter(job)
        return GenerationResult(job_id=job.job_id, status=JobStatus.SUCCEEDED, outputs=ran.outputs)

    # ABANDON: a running write may still be under way when the job is finished (a first "running" signal can
    # cross the end); its UPDATE skips a job that is final, so neither order can move the row back to running.
    @workflow.signal(name=REPORT_PROGRESS_SIGNAL, unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def report_progress(self, update: JobProgress) -> None:
        if self._state.status in TERMINAL_STATUSES:
            return
        # Forward only: a job that ran never shows queued again (a prompt queued again after ComfyUI lost it is
        # still the job running), and its progress never goes back. Only the query's answer changes: no command
        # depends on it, so recorded histories replay as they were.
        shown = dataclasses.replace(update, progress=max(update.progress, self._state.progress))
        if self._state.status == JobStatus.RUNNING:
            shown = dataclasses.replace(shown, status=JobStatus.RUNNING, queue_position=None)
        self._state = shown
        if update.status == JobStatus.RUNNING and not self._running_recorded and workflow.patched(RECORD_RUNNING_PATCH):
            self._running_recorded = True
            await self._record_running(update)

    # ABANDON, as report_progress: the job's final write does not wait for this one and is never undone by it.
    @workflow.signal(name=PROMPT_QUEUED_SIGNAL, unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def prompt_queued(self, queued: PromptQueued) -> None:
        """The server chose the prompt's id (ComfyUI before July 2025), or the prompt was queued again: the job's
        row says so at once, while it waits."""
        if self._state.status in TERMINAL_STATUSES:
            return
        self._state = dataclasses.replace(self._state, backend=queued.backend, prompt_id=queued.prompt_id,
                                          requeues=queued.requeues)
        await self._record(MarkRunningInput(job_id=self._job_id, backend=queued.backend, prompt_id=queued.prompt_id,
                                            running=False, requeues=queued.requeues))

    @workflow.query
    def get_status(self) -> JobProgress:
        return self._state

    async def _record_running(self, update: JobProgress) -> None:
        """Move the row to running. Only a job that outlives the activity's first progress interval gets here,
        so a short job pays nothing; its started_at comes from finish_job."""
        await self._record(MarkRunningInput(job_id=self._job_id, backend=update.backend, prompt_id=update.prompt_id,
                                            requeues=update.requeues or None))

    async def _record(self, change: MarkRunningInput) -> None:
        try:
            await workflow.execute_local_activity_method(
                JobActivities.mark_running, change,
                start_to_close_timeout=timedelta(seconds=10), schedule_to_close_timeout=timedelta(seconds=30))
        except ActivityError as err:
            # An exception out of a signal handler would fail the job; the row still reaches its final status.
            workflow.logger.warning("job %s: %s not recorded (%s)", self._job_id,
                                    "running status" if change.running else "prompt id", err.cause or err)

    async def _finish(self, job: GenerationInput, status: JobStatus, *, ran: RunGraphOutput | None = None,
                      error: dict | None = None) -> None:
        record = FinishJobInput(
            job_id=job.job_id, status=status, workflow_id=workflow.info().workflow_id, product=job.product,
            preset=job.preset, user_id=job.user_id, outputs=ran.outputs if ran else [], error=error,
            backend=ran.backend if ran else self._state.backend,
            prompt_id=ran.prompt_id if ran else self._state.prompt_id,
            comfy_started_at_ms=ran.comfy_started_at_ms if ran else None,
            comfy_finished_at_ms=ran.comfy_finished_at_ms if ran else None,
            prompt_requeues=ran.requeues if ran else self._state.requeues,
            progress=None if ran else self._state.progress,
            queue_wait_ms=ran.queue_wait_ms if ran else None, model_load=ran.model_load if ran else None)
        # A local activity: a short database write in this worker, without another round trip to the server.
        await workflow.execute_local_activity_method(
            JobActivities.finish_job, record, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)))
        progress = 1.0 if status == JobStatus.SUCCEEDED else self._state.progress
        self._state = JobProgress(status=status, progress=progress, backend=record.backend,
                                  prompt_id=record.prompt_id, error=error, requeues=record.prompt_requeues)

    async def _notify(self, job: GenerationInput) -> None:
        """Hand the finished job to its webhook's own workflow, which outlives this one."""
        if not job.webhook_url:
            return  # no command: histories recorded before webhooks existed replay unchanged
        try:
            await workflow.start_child_workflow(
                WebhookDeliveryWorkflow.run,
                DeliverWebhookInput(job_id=job.job_id, webhook_id=webhook_id_of(job.job_id)),
                id=webhook_workflow_id(job.job_id), task_queue=IO_TASK_QUEUE,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        except WorkflowAlreadyStartedError:
            # A reset run: the delivery was handed over already, and the receiver must not get it twice.
            workflow.logger.info("webhook of job %s already handed over", job.job_id)


    async def _meter(self, job: GenerationInput) -> None:
        """Hand the job's usage to its MeterUsageWorkflow: a Stripe outage delays the bill, never the result."""
        try:
            await workflow.start_child_workflow(
                MeterUsageWorkflow.run, MeterUsageInput(job_id=job.job_id), id=meter_workflow_id(job.job_id),
                task_queue=IO_TASK_QUEUE, parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        except WorkflowAlreadyStartedError:
            workflow.logger.info("usage of job %s already handed over", job.job_id)  # a reset run


def _error_of(err: BaseException) -> dict:
    """The {code, message, details} a user sees, from the failure an activity raised."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else {}
        if isinstance(details, dict) and "code" in details:
            return {"code": details["code"], "message": details.get("message", cause.message),
                    "details": details.get("details")}
        return {"code": cause.type or "error", "message": cause.message, "details": None}
    if cause is not None and type(cause).__name__ == "TimeoutError":
        return {"code": "timeout", "message": f"the job did not finish in time ({cause})", "details": None}
    return {"code": "internal_error", "message": str(cause or err), "details": None}
