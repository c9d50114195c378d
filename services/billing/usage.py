"""What an account may use and has used this period: the plan its subscription gives (services/billing/
entitlements.py), checked where work is admitted — an API job past the included images of a plan not billed by
use is refused (402), a creator's photo past the month's quota waits for the next period or an upgrade."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfy_platform.settings import Settings
from comfy_platform.statuses import DriveFileStatus
from db import billing as billing_queries
from db import drive as drive_queries
from services.billing.entitlements import Entitlement, SubscriptionState, entitlement
from services.billing.errors import QuotaExceeded
from services.billing.plans import Catalog, load_catalog

# An API process keeps an account's entitlement this long: a plan change reaches every process within it, and
# a burst of jobs asks the database once.
ENTITLEMENT_TTL_S = 5.0


def catalog_of(settings: Settings) -> Catalog:
    return load_catalog(settings.BILLING_PLANS_FILE)


async def entitlement_of(session: AsyncSession, account_id: str, settings: Settings,
                         now: datetime | None = None) -> Entitlement:
    row = await billing_queries.get_subscription(session, account_id)
    state = None if row is None else SubscriptionState(
        plan=row.plan, status=row.status, current_period_start=row.current_period_start,
        current_period_end=row.current_period_end, cancel_at_period_end=row.cancel_at_period_end,
        past_due_since=row.past_due_since)
    return entitlement(state, catalog_of(settings), now or datetime.now(UTC),
                       timedelta(days=settings.BILLING_GRACE_DAYS))


class Entitlements:
    """Entitlements for the API's hot path, each read from the database at most every ENTITLEMENT_TTL_S."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker, self.settings = sessionmaker, settings
        self._known: dict[str, tuple[float, Entitlement]] = {}

    async def of(self, account_id: str) -> Entitlement:
        now = time.monotonic()
        known = self._known.get(account_id)
        if known is not None and now - known[0] < ENTITLEMENT_TTL_S and known[1].period_end > datetime.now(UTC):
            return known[1]
        async with self.sessionmaker() as session:
            got = await entitlement_of(session, account_id, self.settings)
        if len(self._known) > 10_000:  # accounts seen long ago go first (dicts keep insertion order)
            self._known.pop(next(iter(self._known)))
        self._known.pop(account_id, None)
        self._known[account_id] = (now, got)
        return got


async def admit_api_job(session: AsyncSession, account_id: str, plan: Entitlement, settings: Settings) -> None:
    """Refuse a job once the period's included images are used, unless the plan bills use past them. In the
    caller's session: the API admits a job with one session for all its limits."""
    if plan.plan.api_overage == "meter":
        return
    used = await billing_queries.api_images_used(session, account_id, plan.period_start)
    included = plan.plan.api_images_included_per_month
    if used >= included:
        raise QuotaExceeded("API images", plan.plan.title, used, included, plan.period_end,
                            f"{settings.public_base_url}/creator/billing")


@dataclass(frozen=True)
class PhotoAllowance:
    """Whether a creator's next photo may be edited now, and how the month's photos stand after it."""

    allowed: bool
    used: int  # counting this photo when allowed
    included: int
    period_end: datetime
    plan_title: str
    reason: str | None = None  # why it waits, in the creator's words

    @property
    def share(self) -> float:
        return self.used / self.included if self.included else 1.0


async def admit_photo(session: AsyncSession, account_id: str, settings: Settings, *, file_id: str, version: str,
                      name: str, mime_type: str | None, revision: str | None,
                      sync_workflow_id: str) -> PhotoAllowance:
    """Admit one version of a creator's photo against the month's quota, in the caller's transaction, one
    admission of the account at a time (photos checked in parallel cannot overshoot together). Admitted, it
    counts from now (unless its edit fails); past the quota it is recorded as waiting, with why and until when.
    Asking again for a version admitted this period admits it again without counting it twice."""
    await billing_queries.lock_account(session, account_id)
    # The first write of the transaction: on SQLite it takes the write lock before anything is counted.
    await drive_queries.record_file(session, account_id, file_id, version, name=name, mime_type=mime_type,
                                    revision=revision, status=DriveFileStatus.PROCESSING.value,
                                    sync_workflow_id=sync_workflow_id)
    plan = await entitlement_of(session, account_id, settings)
    used = await billing_queries.creator_photos_used(session, account_id, plan.period_start)
    included = plan.plan.creator_photos_per_month
    if await billing_queries.photo_admitted_since(session, account_id, file_id, version, plan.period_start):
        return PhotoAllowance(True, used, included, plan.period_end, plan.plan.title)
    if used >= included:
        renews = plan.period_end
        reason = (f"waiting for your plan: this month's {included} photos of the {plan.plan.title} plan are used; "
                  f"this one is edited when the plan renews on {renews.day} {renews:%B %Y}, or as soon as you "
                  "upgrade")
        await drive_queries.record_file(session, account_id, file_id, version, name=name,
                                        status=DriveFileStatus.WAITING_FOR_QUOTA.value, reason=reason)
        return PhotoAllowance(False, used, included, plan.period_end, plan.plan.title, reason)
    await billing_queries.admit_photo(session, account_id, file_id, version)
    return PhotoAllowance(True, used + 1, included, plan.period_end, plan.plan.title)


async def photos_to_take_up(session: AsyncSession, account_id: str, settings: Settings) -> list:
    """The creator's photos waiting for quota that the quota now has room for (after a renewal or an upgrade),
    the longest waiting first; each is admitted again as any new photo is. Waiting versions a later version
    of the same file replaced are marked skipped."""
    plan = await entitlement_of(session, account_id, settings)
    used = await billing_queries.creator_photos_used(session, account_id, plan.period_start)
    return await drive_queries.waiting_for_quota(session, account_id, plan.plan.creator_photos_per_month - used)


async def usage_overview(session: AsyncSession, account_id: str, settings: Settings) -> dict:
    """used / included / period end, for GET /api/v1/usage and the creator's billing page."""
    plan = await entitlement_of(session, account_id, settings)
    api = await billing_queries.api_usage(session, account_id, plan.period_start, plan.period_end)
    photos = await billing_queries.creator_photos_used(session, account_id, plan.period_start)
    return {
        "plan": plan.plan.name, "plan_title": plan.plan.title, "status": plan.status, "notice": plan.notice,
        "period_start": plan.period_start, "period_end": plan.period_end,
        "creator_photos": {"used": photos, "included": plan.plan.creator_photos_per_month},
        "api_images": {"used": int(api["images"]), "included": plan.plan.api_images_included_per_month,
                       "past_included": plan.plan.api_overage},
        "api_gpu_seconds": round(api["gpu_seconds"], 1),
        "api_jobs": int(api["jobs"]),
    }
