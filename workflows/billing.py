"""Billing runs: a Stripe event handled (StripeEventWorkflow, `stripe-event-<event id>`) and a succeeded API job's
metered use reported (MeterUsageWorkflow, `meter-<job id>`). Each retries its one activity for a day: a Stripe
outage delays them, never a job's result, and loses nothing."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from workflows.shared import MeterUsageInput, StripeEventInput

STRIPE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                           maximum_interval=timedelta(minutes=10))


# Not sandboxed, like GenerationWorkflow (see there); the replay tests cover these too.
@workflow.defn(name="StripeEventWorkflow", sandboxed=False)
class StripeEventWorkflow:
    @workflow.run
    async def run(self, event: StripeEventInput) -> str:
        """What the event changed (the account's subscription, as Stripe holds it once the event is handled)."""
        return await workflow.execute_activity_method(
            BillingActivities.apply_stripe_event, event, start_to_close_timeout=timedelta(minutes=1),
            schedule_to_close_timeout=timedelta(days=1), retry_policy=STRIPE_RETRY)


@workflow.defn(name="MeterUsageWorkflow", sandboxed=False)
class MeterUsageWorkflow:
    @workflow.run
    async def run(self, request: MeterUsageInput) -> str:
        """`sent`, or `not_billed` for use within the plan or a plan not billed by use."""
        return await workflow.execute_activity_method(
            BillingActivities.report_job_usage, request, start_to_close_timeout=timedelta(minutes=1),
            schedule_to_close_timeout=timedelta(days=1), retry_policy=STRIPE_RETRY)
