"""BillingActivities: an account's subscription brought to what Stripe holds after an event, a succeeded API
job's use past its plan's included images reported to Stripe's meters once, and a creator's photo checked against
the month's quota (with a notice at 80 % and at 100 %, once each a period)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from comfy_platform.settings import Settings
from db import billing as billing_queries
from db import drive as drive_queries
from services.billing.stripe_billing import StripeBilling
from services.billing.usage import admit_photo
from services.creator.schedules import trigger_sync
from workflows.shared import (
    IO_TASK_QUEUE,
    CreatorEmailInput,
    MeterUsageInput,
    PhotoQuota,
    PhotoQuotaInput,
    QuotaNoticeInput,
    StripeEventInput,
)

log = logging.getLogger(__name__)
NOTICE_AT = (0.8, 1.0)  # shares of the month's photos used that the creator hears about, once a period each


class BillingActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
                 billing: StripeBilling | None) -> None:
        self.sessionmaker, self.settings, self.billing = sessionmaker, settings, billing

    @activity.defn
    async def apply_stripe_event(self, event: StripeEventInput) -> str:
        """What the event changed: the account's subscription re-read from Stripe (never from the event's own copy,
        so redelivered or reordered events leave the state Stripe holds). A creator's photos waiting for quota are taken up."""
        if self.billing is None or not event.customer_id:
            outcome, account_id = "nothing to do: billing is not set up, or the event names no customer", None
        else:
            account_id, outcome = await self.billing.sync_customer(event.customer_id)
        async with self.sessionmaker() as session, session.begin():
            await billing_queries.event_handled(session, event.event_id, account_id, outcome)
        if account_id is not None:
            await self._take_up_waiting_photos(account_id)
        log.info("Stripe event %s (%s): %s", event.event_id, event.event_type, outcome, extra={"user_id": account_id})
        return outcome

    @activity.defn
    async def report_job_usage(self, request: MeterUsageInput) -> str:
        """Bill the job's use past the plan's included images (if its plan bills by use): once, whatever retries."""
        if self.billing is None:
            return "not billed: billing is not set up"
        return (await self.billing.report_usage(request.job_id)).value

    @activity.defn
    async def check_photo_quota(self, request: PhotoQuotaInput) -> PhotoQuota:
        """Whether the creator's photo may be edited now. If not, the photo is recorded as waiting, with why and
        until when, and the creator hears once that the month's photos are used."""
        file = request.file
        async with self.sessionmaker() as session, session.begin():
            allowance = await admit_photo(session, request.user_id, self.settings, file_id=file.file_id,
                                          version=file.version, name=file.name, mime_type=file.mime_type,
                                          revision=file.revision, sync_workflow_id=request.sync_workflow_id)
        reached = [share for share in NOTICE_AT if allowance.share >= share]
        if reached:  # the highest share reached: crossing both at once is one email, not two
            await self._notify_quota(request.user_id, max(reached), allowance.used, allowance.included,
                                     allowance.period_end)
        if allowance.allowed:
            return PhotoQuota(allowed=True)
        return PhotoQuota(allowed=False, renews_at=allowance.period_end.isoformat(), reason=allowance.reason)

    async def _notify_quota(self, user_id: str, share: float, used: int, included: int, period_end) -> None:
        """One email per threshold and period: the workflow id says which, and is never reused."""
        percent = round(share * 100)
        notice = QuotaNoticeInput(user_id=user_id, percent=percent, used=used, included=included,
                                  renews_at=period_end.isoformat(),
                                  notice_key=f"quota{percent}:{user_id}:{period_end:%Y-%m-%d}")
        try:
            await activity.client().start_workflow(
                "CreatorEmailWorkflow", CreatorEmailInput(quota=notice),
                id=f"creator-email-{notice.notice_key.replace(':', '-')}", task_queue=IO_TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass  # told already this period

    async def _take_up_waiting_photos(self, account_id: str) -> None:
        """A creator with photos waiting for quota gets a sync now: after an upgrade or a renewal it edits those
        the plan has room for, without waiting for the next tick."""
        async with self.sessionmaker() as session:
            waiting = await drive_queries.count_waiting_for_quota(session, account_id)
            watch = await drive_queries.get_watch(session, account_id)
        if waiting and watch is not None and not watch.paused_reason:
            await trigger_sync(activity.client(), self.settings, account_id)
