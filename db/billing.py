"""Billing queries: Stripe customers of accounts, subscriptions as last read from Stripe, the inbox of Stripe
events, what an account used this period, and meter reports of API jobs billed by use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    ApiImagesByDay,
    DriveFile,
    DriveFileStatus,
    MeterReport,
    MeterReportStatus,
    StripeEvent,
    Subscription,
    UsageRecord,
    User,
    UtcDateTime,
    utcnow,
)
from db.session import dialect_insert

# A creator's photo admitted this period counts against the month's photos unless its edit failed (or it was
# skipped): admitted ones still processing count too, so photos processed in parallel cannot overshoot together.
NOT_COUNTED_PHOTO_STATUSES = (DriveFileStatus.FAILED.value, DriveFileStatus.SKIPPED.value)


async def set_stripe_customer(session: AsyncSession, account_id: str, customer_id: str) -> str:
    """Record the account's Stripe customer unless one is recorded already; the one that stands."""
    await session.execute(update(User).where(User.id == account_id, User.stripe_customer_id.is_(None))
                          .values(stripe_customer_id=customer_id).execution_options(synchronize_session=False))
    return await session.scalar(select(User.stripe_customer_id).where(User.id == account_id))


async def account_of_customer(session: AsyncSession, customer_id: str) -> User | None:
    return await session.scalar(select(User).where(User.stripe_customer_id == customer_id))


async def get_subscription(session: AsyncSession, account_id: str) -> Subscription | None:
    return await session.get(Subscription, account_id, populate_existing=True)


async def save_subscription(session: AsyncSession, account_id: str, *, stripe_subscription_id: str, plan: str,
                            status: str, current_period_start: datetime | None,
                            current_period_end: datetime | None, cancel_at_period_end: bool) -> Subscription:
    """Store the subscription as Stripe holds it now. `past_due_since` is when it was first seen past due (kept
    while it stays so, cleared when it is paid), which starts the grace period."""
    now = utcnow()
    values: dict[str, Any] = dict(account_id=account_id, stripe_subscription_id=stripe_subscription_id, plan=plan,
                                  status=status, current_period_start=current_period_start,
                                  current_period_end=current_period_end, cancel_at_period_end=cancel_at_period_end,
                                  past_due_since=now if status == "past_due" else None, synced_at=now)
    insert = dialect_insert(session, Subscription).values(values)
    changes = {**values, "past_due_since": func.coalesce(Subscription.past_due_since, insert.excluded.past_due_since)
               if status == "past_due" else None}
    changes.pop("account_id")
    statement = insert.on_conflict_do_update(index_elements=["account_id"], set_=changes).returning(Subscription)
    return (await session.scalars(statement, execution_options={"populate_existing": True})).one()


async def store_event(session: AsyncSession, event_id: str, event_type: str) -> bool:
    """Keep a Stripe event once by its id; False when it was received before (a redelivery)."""
    insert = dialect_insert(session, StripeEvent).values(id=event_id, type=event_type, received_at=utcnow())
    result = await session.execute(insert.on_conflict_do_nothing(index_elements=["id"]))
    return bool(result.rowcount)


async def event_handled(session: AsyncSession, event_id: str, account_id: str | None, outcome: str) -> None:
    await session.execute(update(StripeEvent).where(StripeEvent.id == event_id)
                          .values(handled_at=utcnow(), account_id=account_id, outcome=outcome[:256]))


async def lock_account(session: AsyncSession, account_id: str) -> None:
    """Hold the account until the transaction ends, so admissions of its work happen one after another. PostgreSQL
    locks the account's row; SQLite holds its one write lock from the transaction's first write, which the caller
    makes before it counts."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(User.id).where(User.id == account_id).with_for_update())


async def creator_photos_used(session: AsyncSession, account_id: str, since: datetime) -> int:
    """The creator's photos admitted since `since` and not failed or skipped."""
    return await session.scalar(select(func.count(DriveFile.id)).where(
        DriveFile.user_id == account_id, DriveFile.admitted_at >= _time(since),
        DriveFile.status.notin_(NOT_COUNTED_PHOTO_STATUSES)))


async def photo_admitted_since(session: AsyncSession, account_id: str, file_id: str, version: str,
                               since: datetime) -> bool:
    admitted = await session.scalar(select(DriveFile.admitted_at).where(
        DriveFile.user_id == account_id, DriveFile.file_id == file_id, DriveFile.version == version))
    return admitted is not None and admitted >= since


async def admit_photo(session: AsyncSession, account_id: str, file_id: str, version: str) -> None:
    await session.execute(update(DriveFile).where(
        DriveFile.user_id == account_id, DriveFile.file_id == file_id, DriveFile.version == version)
        .values(admitted_at=utcnow()))


async def api_usage(session: AsyncSession, account_id: str, since: datetime,
                    until: datetime | None = None) -> dict[str, float]:
    """Images and GPU seconds of the account's finished API jobs in [since, until)."""
    query = select(func.coalesce(func.sum(UsageRecord.images), 0), func.coalesce(func.sum(UsageRecord.gpu_seconds), 0.0),
                   func.count(UsageRecord.id)).where(
        UsageRecord.user_id == account_id, UsageRecord.product == "api", UsageRecord.created_at >= _time(since))
    if until is not None:
        query = query.where(UsageRecord.created_at < _time(until))
    images, gpu_seconds, jobs = (await session.execute(query)).one()
    return {"images": int(images), "gpu_seconds": float(gpu_seconds), "jobs": int(jobs)}


async def api_images_used(session: AsyncSession, account_id: str, since: datetime) -> int:
    """The account's API images since `since`, what admits its next job, in one query that does not read every
    record of the period: the whole UTC days from api_images_by_day (at most a month of rows), the rest of
    `since`'s own day from the records' (user_id, product, created_at, images) index alone."""
    midnight = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    whole_days_from = midnight if since == midnight else midnight + timedelta(days=1)
    whole_days = select(func.coalesce(func.sum(ApiImagesByDay.images), 0)).where(
        ApiImagesByDay.user_id == account_id, ApiImagesByDay.day >= whole_days_from.date())
    first_day = select(func.coalesce(func.sum(UsageRecord.images), 0)).where(
        UsageRecord.user_id == account_id, UsageRecord.product == "api", UsageRecord.created_at >= _time(since),
        UsageRecord.created_at < _time(whole_days_from))
    return int(await session.scalar(select(whole_days.scalar_subquery() + first_day.scalar_subquery())))


async def usage_of_job(session: AsyncSession, job_id: str) -> UsageRecord | None:
    return await session.scalar(select(UsageRecord).where(UsageRecord.job_id == job_id))


async def api_images_before(session: AsyncSession, record: UsageRecord, since: datetime) -> int:
    """The account's API images of this period recorded before `record` (by time, then id): what a job's own
    images are counted on top of, the same on every retry."""
    earlier = (UsageRecord.created_at < record.created_at) | (
        (UsageRecord.created_at == record.created_at) & (UsageRecord.id < record.id))
    return await session.scalar(select(func.coalesce(func.sum(UsageRecord.images), 0)).where(
        UsageRecord.user_id == record.user_id, UsageRecord.product == "api",
        UsageRecord.created_at >= _time(since), earlier))


async def get_meter_report(session: AsyncSession, job_id: str) -> MeterReport | None:
    return await session.get(MeterReport, job_id, populate_existing=True)


async def meter_reports_of_jobs(session: AsyncSession, job_ids: list[str]) -> dict[str, MeterReport]:
    """The billing reports of these jobs, by job id (a job not billed yet, or not an API job, has none)."""
    if not job_ids:
        return {}
    reports = await session.scalars(select(MeterReport).where(MeterReport.job_id.in_(job_ids)))
    return {report.job_id: report for report in reports}


async def save_meter_report(session: AsyncSession, job_id: str, account_id: str, *, status: MeterReportStatus,
                            images: int = 0, gpu_seconds: float = 0.0, error: str | None = None) -> None:
    """Record what a job is billed and how its report went; a report once sent stays sent."""
    values = dict(job_id=job_id, account_id=account_id, status=status.value, images=images, gpu_seconds=gpu_seconds,
                  attempts=1, last_error=error, sent_at=utcnow() if status == MeterReportStatus.SENT else None)
    insert = dialect_insert(session, MeterReport).values(values)
    sent = MeterReport.status == MeterReportStatus.SENT.value
    await session.execute(insert.on_conflict_do_update(index_elements=["job_id"], set_={
        "status": func.coalesce(_unless(sent, MeterReport.status), insert.excluded.status),
        "images": insert.excluded.images, "gpu_seconds": insert.excluded.gpu_seconds,
        "attempts": MeterReport.attempts + 1, "last_error": insert.excluded.last_error,
        "sent_at": func.coalesce(MeterReport.sent_at, insert.excluded.sent_at)}))


async def pending_meter_reports(session: AsyncSession) -> int:
    return await session.scalar(select(func.count(MeterReport.job_id))
                                .where(MeterReport.status == MeterReportStatus.PENDING.value))


def _unless(condition, column):
    return case((condition, column), else_=null())


def _time(value: datetime):
    # Typed bind, so the UTC conversion of UtcDateTime applies inside comparisons too.
    return literal(value, UtcDateTime())
