"""CreatorEmailWorkflow: one creator email (a sync batch's summary, a reconnect notice, a quota notice), retried for
up to a day,
apart from the sync run that asked for it.

A child of DriveSyncWorkflow that outlives it (parent close policy ABANDON), as webhooks are of GenerationWorkflow:
the sync run ends once it has handed the email over, so an SMTP outage never keeps the creator's schedule from
starting the next sync (it skips a tick while a run is open) or a sync-now from running.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities
    from workflows.shared import CreatorEmailInput

# An SMTP server that is down gets a day of retries, backing off to one every ten minutes. Read when the send is
# scheduled, so a test can shorten it.
EMAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                          maximum_interval=timedelta(minutes=10))
# The send heartbeats through its SMTP conversation: a worker that dies in one is noticed after this, not after
# the whole start-to-close timeout, and the retry comes that much sooner.
EMAIL_HEARTBEAT = timedelta(seconds=10)


# Not sandboxed, like the other creator workflows; the replay tests cover it.
@workflow.defn(name="CreatorEmailWorkflow", sandboxed=False)
class CreatorEmailWorkflow:
    @workflow.run
    async def run(self, email: CreatorEmailInput) -> bool:
        """True once this email is sent (or was already); False when it never could be."""
        if email.summary is not None:
            send, message = EmailActivities.send_sync_summary, email.summary
        elif email.notice is not None:
            send, message = EmailActivities.send_reconnect_notice, email.notice
        elif email.quota is not None:
            send, message = EmailActivities.send_quota_notice, email.quota
        else:
            return False
        try:
            # No task queue given: the activity runs on this workflow's own (io, where its parent starts it).
            await workflow.execute_activity_method(
                send, message, start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=EMAIL_HEARTBEAT,
                schedule_to_close_timeout=timedelta(days=1), retry_policy=EMAIL_RETRY)
            return True
        except ActivityError as err:
            workflow.logger.warning("email not sent: %s", err.cause or err)
            return False
