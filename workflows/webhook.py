"""WebhookDeliveryWorkflow: one job's webhook, retried for up to a day, apart from the job's own run.

A child of GenerationWorkflow that outlives it (parent close policy ABANDON): the job is finished, and its
result available, the moment it is recorded, whether or not the receiver is up.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities
    from workflows.shared import IO_TASK_QUEUE, DeliverWebhookInput

# A receiver that is down gets a day of retries, backing off to one an hour. Read when the delivery is
# scheduled, so a test can shorten the first interval.
WEBHOOK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                            maximum_interval=timedelta(hours=1))


# Not sandboxed, like GenerationWorkflow (see there); the replay tests cover it too.
@workflow.defn(name="WebhookDeliveryWorkflow", sandboxed=False)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, request: DeliverWebhookInput) -> bool:
        """True once the receiver took the job; False when it never did (every attempt is on the job)."""
        try:
            await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook, request, task_queue=IO_TASK_QUEUE,
                start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(hours=24),
                retry_policy=WEBHOOK_RETRY)
            return True
        except ActivityError as err:
            workflow.logger.warning("webhook of job %s not delivered: %s", request.job_id, err.cause)
            return False
