"""The figures operators and the business watch, computed from the database when Prometheus scrapes.

No label names a key, a user or an account: usage per key is a distribution (quantiles over keys), active users a
count. The io worker serves these; each scrape runs a handful of aggregate queries, at most once per
REFRESH_EVERY_S, whatever the number of scrapers.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from comfy_platform.statuses import JobStatus
from db.models import ApiKey, Job, MeterReport, MeterReportStatus, Subscription, UsageRecord, User, utcnow

log = logging.getLogger(__name__)
REFRESH_EVERY_S = 10.0
KEY_USAGE_QUANTILES = (0.5, 0.9, 0.99, 1.0)
WINDOWS = {"day": timedelta(days=1), "month": timedelta(days=30)}


class BusinessFigures(Collector):
    """A Prometheus collector over a snapshot; `refresh()` (async, before each scrape) renews the snapshot."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._families: list[GaugeMetricFamily] = []
        self._refreshed = 0.0

    async def refresh(self) -> None:
        if time.monotonic() - self._refreshed < REFRESH_EVERY_S:
            return
        try:
            async with self.sessionmaker() as session:
                self._families = await _figures(session)
            self._refreshed = time.monotonic()
        except Exception as exc:  # a database outage shows as missing series and the scrape goes on
            log.warning("business figures not refreshed: %s", exc)
            self._families = []

    def collect(self):
        return iter(self._families)


async def _figures(session: AsyncSession) -> list[GaugeMetricFamily]:
    now = utcnow()
    jobs = GaugeMetricFamily("comfy_jobs", "Jobs by product and status right now (queued and running are the "
                             "work in the system)", labels=["product", "status"])
    for product, status, count in await session.execute(
            select(Job.product, Job.status, func.count()).where(
                Job.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value))).group_by(Job.product, Job.status)):
        jobs.add_metric([product, status], count)

    ended = GaugeMetricFamily("comfy_jobs_finished_last_day", "Jobs that ended in the last 24 hours, by product "
                              "and final status", labels=["product", "status"])
    for product, status, count in await session.execute(
            select(Job.product, Job.status, func.count()).where(Job.finished_at > now - WINDOWS["day"])
            .group_by(Job.product, Job.status)):
        ended.add_metric([product, status], count)

    active = GaugeMetricFamily("comfy_active_users", "Accounts with a job in the window (day: 24 hours, "
                               "month: 30 days), by product", labels=["product", "window"])
    keys = GaugeMetricFamily("comfy_active_api_keys", "API keys with a job in the window", labels=["window"])
    for window, span in WINDOWS.items():
        for product, count in await session.execute(
                select(Job.product, func.count(func.distinct(Job.user_id))).where(
                    Job.created_at > now - span, Job.user_id.is_not(None)).group_by(Job.product)):
            active.add_metric([product, window], count)
        keys.add_metric([window], await session.scalar(select(func.count(func.distinct(Job.api_key_id))).where(
            Job.created_at > now - span, Job.api_key_id.is_not(None))) or 0)

    usage = GaugeMetricFamily("comfy_api_key_images_last_month", "Images made per API key over 30 days, as "
                              "quantiles over the keys that made any (1 = the busiest key)", labels=["quantile"])
    per_key = sorted(total for (total,) in await session.execute(
        select(func.sum(UsageRecord.images)).where(UsageRecord.created_at > now - WINDOWS["month"],
                                                   UsageRecord.api_key_id.is_not(None))
        .group_by(UsageRecord.api_key_id)))
    for q in KEY_USAGE_QUANTILES:
        usage.add_metric([str(q)], float(per_key[min(len(per_key) - 1, int(q * len(per_key)))]) if per_key else 0.0)

    accounts = GaugeMetricFamily("comfy_accounts", "Accounts (users), and those that own API keys",
                                 labels=["kind"])
    accounts.add_metric(["all"], await session.scalar(select(func.count()).select_from(User)) or 0)
    accounts.add_metric(["with_api_keys"], await session.scalar(
        select(func.count(func.distinct(ApiKey.account_id)))) or 0)

    subscriptions = GaugeMetricFamily("comfy_subscriptions", "Subscriptions by plan and Stripe status (conversions "
                                      "raise active; churn moves them to canceled)", labels=["plan", "status"])
    for plan, status, count in await session.execute(
            select(Subscription.plan, Subscription.status, func.count()).group_by(Subscription.plan,
                                                                                    Subscription.status)):
        subscriptions.add_metric([plan, status], count)

    pending, oldest = (await session.execute(select(func.count(), func.min(MeterReport.created_at)).where(
        MeterReport.status == MeterReportStatus.PENDING.value))).one()
    meter = GaugeMetricFamily("comfy_meter_reports_pending", "Usage of jobs billed by use not yet reported to Stripe")
    meter.add_metric([], pending or 0)
    meter_age = GaugeMetricFamily("comfy_meter_reports_oldest_pending_seconds",
                                  "Age of the oldest usage report still pending (0: none)")
    meter_age.add_metric([], _age_s(oldest, now))
    return [jobs, ended, active, keys, usage, accounts, subscriptions, meter, meter_age]


def _age_s(then: datetime | None, now: datetime) -> float:
    # min() keeps the column's type, so `then` comes back as an aware UTC datetime on every database.
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())
