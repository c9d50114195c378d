"""AccountDeletionWorkflow (`account-deletion-<user id>`): an account deleted for good, in steps that each retry
until they succeed. Access goes first (sessions, the sync schedule, the Google grant), then the Stripe subscription
(so nothing is charged again), then the account's unfinished jobs are cancelled and waited for (a bounded while),
then its jobs, uploads and photo records go a page at a time with their files in storage, and the account last."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities
    from workflows.shared import AccountDeletionInput, AccountDeletionReport

STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                         maximum_interval=timedelta(minutes=5))
JOBS_STOP_WAIT = timedelta(minutes=10)  # how long cancelled jobs may take to end before they are deleted anyway
JOBS_STOP_POLL = timedelta(seconds=2)


# Not sandboxed, like GenerationWorkflow (see there); the replay tests cover it too.
@workflow.defn(name="AccountDeletionWorkflow", sandboxed=False)
class AccountDeletionWorkflow:
    @workflow.run
    async def run(self, request: AccountDeletionInput) -> AccountDeletionReport:
        report = AccountDeletionReport()
        await self._step(AccountActivities.close_account_access, request)
        report.subscriptions_ended = await self._step(AccountActivities.end_account_subscriptions, request)
        waited_since = workflow.now()
        while await self._step(AccountActivities.cancel_account_jobs, request):
            if workflow.now() - waited_since >= JOBS_STOP_WAIT:
                workflow.logger.warning("jobs of account %s did not end after cancel: deleted anyway", request.user_id)
                break
            await workflow.sleep(JOBS_STOP_POLL)
        report.jobs = await self._drain(AccountActivities.delete_account_jobs, request)
        report.uploads = await self._drain(AccountActivities.delete_account_uploads, request)
        report.photos = await self._drain(AccountActivities.delete_account_photos, request)
        await self._step(AccountActivities.delete_account_row, request)
        return report

    async def _drain(self, activity: Any, request: AccountDeletionInput) -> int:
        """Run a page-sized step until it finds nothing left; how many rows it deleted in all."""
        total = 0
        while deleted := await self._step(activity, request):
            total += deleted
        return total

    @staticmethod
    async def _step(activity: Any, argument: Any) -> Any:
        return await workflow.execute_activity_method(
            activity, argument, start_to_close_timeout=timedelta(minutes=2), retry_policy=STEP_RETRY)
