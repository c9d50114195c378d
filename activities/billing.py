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
from db.models import DriveFileStatus
from services.billing.stripe_billing import StripeBilling
from services.billing.usage import photo_allowance
from workflows.shared import (
    IO_TASK_QUEUE,
    QUOTA_CHANGED_SIGNAL,
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
        so redelivered or reordered events leave the state Stripe holds). Photos waiting for quota look again."""
        if self.billing is None or not event.customer_id:
            outcome, account_id = "nothing to do: billing is not set up, or the event names no customer", None
        else:
            account_id, outcome = await self.billing.sync_customer(event.customer_id)
        async with self.sessionmaker() as session, session.begin():
            await billing_queries.event_handled(session, event.event_id, account_id, outcome)
        if account_id is not None:
            await self._wake_waiting_photos(account_id)
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
        async with self.sessionmaker() as session:
            allowance = await photo_allowance(session, request.user_id, self.settings)
        period = allowance.period_end
        for share in NOTICE_AT:
            if allowance.share >= share:
                await self._notify_quota(request.user_id, share, allowance.used, allowance.included, period)
        if allowance.allowed:
            return PhotoQuota(allowed=True)
        reason = (f"waiting for your plan: this month's {allowance.included} photos of the {allowance.plan_title} "
                  f"plan are edited; it is edited on {period:%d %B %Y}, or as soon as you upgrade")
        async with self.sessionmaker() as session, session.begin():
            await drive_queries.record_file(
                session, request.user_id, request.file.file_id, request.file.version, name=request.file.name,
                mime_type=request.file.mime_type, status=DriveFileStatus.WAITING.value, reason=reason,
                sync_workflow_id=request.sync_workflow_id)
        return PhotoQuota(allowed=False, renews_at=period.isoformat(), reason=reason)

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

    async def _wake_waiting_photos(self, account_id: str) -> None:
        """Photos waiting for quota look again now: the plan may have changed (an upgrade, a renewal)."""
        client = activity.client()
        query = (f'WorkflowType = "ProcessDriveFileWorkflow" AND UserId = "{account_id}" '
                 'AND ExecutionStatus = "Running"')
        async for waiting in client.list_workflows(query):
            try:
                await client.get_workflow_handle(waiting.id).signal(QUOTA_CHANGED_SIGNAL)
            except Exception as exc:  # noqa: BLE001 - it ended meanwhile; the others still hear
                log.debug("could not wake %s: %s", waiting.id, exc)
