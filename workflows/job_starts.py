"""StartPendingJobsWorkflow: finishes job submissions a crash cut short, on the `job-start-sweeper` Schedule.

A job's row is written with what starting its workflow takes (services/jobs.py); a process that
dies between that write and the start leaves a row whose workflow does not exist. Every 30 s this finds the rows
older than a minute that still hold their payload and starts their workflows (a no-op for those running).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.jobs import JobActivities
    from workflows.shared import START_SWEEP_GRACE_S, StartPendingJobsInput


# Not sandboxed, like GenerationWorkflow (see there); the replay tests cover it too.
@workflow.defn(name="StartPendingJobsWorkflow", sandboxed=False)
class StartPendingJobsWorkflow:
    @workflow.run
    async def run(self, request: StartPendingJobsInput | None = None) -> int:
        """How many jobs it started (or found started). The Schedule passes no input: the default grace."""
        return await workflow.execute_activity_method(
            JobActivities.start_pending_jobs, request or StartPendingJobsInput(grace_s=START_SWEEP_GRACE_S),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
                                     maximum_attempts=3))
