"""A subscription's life as Stripe's events tell it (renewal, failed payment and grace, cancellation), events that
come twice or out of order, the API's monthly images (402 past a plan's, billed by use on a metered plan), and
metered use reported exactly once. Real SDK against the Stripe test server, real Temporal and PostgreSQL."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import select

from comfy_platform.stripe_client import stripe_client
from db import billing as billing_queries
from db import users as user_queries
from db.models import MeterReportStatus, StripeEvent
from services.billing.stripe_billing import StripeBilling
from tests.helpers.accounts import key_of_new_account
from tests.helpers.billing import billing_view, buy, subscription_of, until_subscription
from tests.helpers.images import empty_image_graph

DAY = 24 * 3600


async def api_key_of(creator, platform):
    """An API key of the creator's own account: its usage is the account's."""
    async with platform.sessionmaker() as session, session.begin():
        return await key_of_new_account(session, platform.settings, "billing", email=creator.email)


async def run_api_job(api_server, secret: str) -> tuple[int, dict]:
    async with api_server.client(secret) as http:
        response = await http.post("/api/v1/generate", json={
            "graph": empty_image_graph(color=random.randrange(1 << 24)), "timeout": 60})
    return response.status_code, response.json()


async def billing_on_the_job(api_server, secret: str, job_id: str) -> dict | None:
    """The job's billing as its owner reads it through the API."""
    async with api_server.client(secret) as http:
        response = await http.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()["billing"]


async def test_renewal_starts_a_new_period_with_the_plan_s_images_back(creator, stripe_clock, platform,
                                                                      api_server):
    await buy(creator, stripe_clock, "creator")  # 2 API images a month, refused past them
    first = await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    key = await api_key_of(creator, platform)
    for _ in range(2):
        status, job = await run_api_job(api_server, key.secret)
        assert status == 200 and job["status"] == "succeeded", job
    status, refused = await run_api_job(api_server, key.secret)
    assert status == 402
    assert refused["error"]["code"] == "quota_exceeded"
    assert refused["error"]["details"]["included"] == 2 and "/creator/billing" in refused["error"]["details"]["upgrade"]

    await stripe_clock.advance(to="period_end", subscription=first.stripe_subscription_id)
    renewed = await until_subscription(platform, creator.user_id,
                                       lambda s: s.current_period_start >= first.current_period_end)
    assert renewed.status == "active"
    # The API's view of a plan is kept for a few seconds per process; a renewal reaches it within that.
    await asyncio.sleep(5.1)
    status, job = await run_api_job(api_server, key.secret)
    assert status == 200 and job["status"] == "succeeded", job


async def test_a_failed_renewal_keeps_the_plan_through_the_grace_then_falls_back(creator, stripe_clock, platform):
    await buy(creator, stripe_clock, "creator")
    active = await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    await stripe_clock.fail_charges(await _customer_of(platform, creator.user_id))
    await stripe_clock.advance(to="period_end", subscription=active.stripe_subscription_id)
    past_due = await until_subscription(platform, creator.user_id, lambda s: s.status == "past_due")
    assert past_due.past_due_since is not None
    view = await billing_view(creator)
    assert (view["plan"], view["status"]) == ("creator", "past_due") and "payment failed" in view["notice"]
    # Stripe retries the payment over a week, then ends the subscription: the account falls back, work stays.
    await stripe_clock.advance(seconds=8 * DAY)
    await until_subscription(platform, creator.user_id, lambda s: s.status == "canceled")
    view = await billing_view(creator)
    assert (view["plan"], view["status"]) == ("free", "ended")


async def test_a_subscription_cancelled_in_the_portal_lasts_to_the_period_s_end(creator, stripe_clock, platform):
    await buy(creator, stripe_clock, "creator")
    active = await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    portal = (await creator.http.post("/creator/billing/portal")).json()["url"]
    await stripe_clock.portal_cancel(portal.rstrip("/").rsplit("/", 1)[-1], active.stripe_subscription_id)
    await until_subscription(platform, creator.user_id, lambda s: s.cancel_at_period_end)
    view = await billing_view(creator)
    assert (view["plan"], view["status"]) == ("creator", "cancelling") and "ends on" in view["notice"]
    await stripe_clock.advance(to="period_end", subscription=active.stripe_subscription_id)
    await until_subscription(platform, creator.user_id, lambda s: s.status == "canceled")
    assert (await billing_view(creator))["plan"] == "free"


async def test_events_delivered_twice_and_in_reverse_order_leave_the_same_state(creator, stripe_server, platform):
    await stripe_server.hold_webhooks()
    await buy(creator, stripe_server, "creator")
    released = await stripe_server.release_webhooks(order="reverse")
    assert released >= 3  # checkout completed, subscription created, invoice paid ...
    subscription = await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    async with platform.sessionmaker() as session:
        handled = list(await session.scalars(select(StripeEvent.id).where(StripeEvent.account_id == creator.user_id)))
    for event_id in handled:
        await stripe_server.deliver_again(event_id)
    await _until_all_delivered(stripe_server)
    again = await subscription_of(platform, creator.user_id)
    assert (again.plan, again.status, again.current_period_end) == \
        (subscription.plan, subscription.status, subscription.current_period_end)
    # Every duplicate reached the API and was taken (200) without being handled again.
    duplicates = [d for d in (await stripe_server.deliveries())["attempts"] if d["duplicate"] and d["event"] in handled]
    assert {d["event"] for d in duplicates} == set(handled) and all(d["status"] == 200 for d in duplicates)
    for event_id in handled:
        description = await platform.client.get_workflow_handle(f"stripe-event-{event_id}").describe()
        assert description.run_id is not None  # one run per event id: a second start is refused by Temporal


async def test_metered_use_past_the_included_image_is_reported_exactly_once(creator, stripe_server, platform,
                                                                           api_server):
    await buy(creator, stripe_server, "pro")  # 1 API image included, then billed by use
    await until_subscription(platform, creator.user_id, lambda s: s.status == "active" and s.plan == "pro")
    key = await api_key_of(creator, platform)
    _, included = await run_api_job(api_server, key.secret)
    _, billed = await run_api_job(api_server, key.secret)
    reports = {job["id"]: await _until_report(platform, job["id"]) for job in (included, billed)}
    assert reports[included["id"]].status == MeterReportStatus.NOT_BILLED
    assert (reports[billed["id"]].status, reports[billed["id"]].images) == (MeterReportStatus.SENT, 1)
    # The developer sees on each job what it was billed.
    assert (await billing_on_the_job(api_server, key.secret, included["id"]))["status"] == "not_billed"
    shown = await billing_on_the_job(api_server, key.secret, billed["id"])
    assert (shown["status"], shown["billed_images"], shown["last_error"]) == ("sent", 1, None)
    assert shown["reported_at"] is not None and shown["gpu_seconds"] > 0
    # A retried report (an activity killed after Stripe took the event) bills nothing twice.
    billing = api_server_billing(platform)
    assert await billing.report_usage(billed["id"]) == MeterReportStatus.SENT
    assert await accepted_meter_events(stripe_server, f"{billed['id']}-images") == [1.0]
    assert await accepted_meter_events(stripe_server, f"{included['id']}-images") == []


async def test_a_stripe_outage_delays_the_meter_event_and_loses_nothing(creator, stripe_server, platform,
                                                                       api_server):
    await buy(creator, stripe_server, "pro")
    await until_subscription(platform, creator.user_id, lambda s: s.plan == "pro")
    key = await api_key_of(creator, platform)
    await run_api_job(api_server, key.secret)  # the included one
    await stripe_server.stop()
    try:
        status, job = await run_api_job(api_server, key.secret)
        assert status == 200 and job["status"] == "succeeded"  # the result does not wait for Stripe
        pending = await _until_report(platform, job["id"], MeterReportStatus.PENDING, with_error=True)
        assert "Stripe did not answer" in pending.last_error
        shown = await billing_on_the_job(api_server, key.secret, job["id"])
        assert shown["status"] == "pending" and "Stripe did not answer" in shown["last_error"]
    finally:
        await stripe_server.start()
    sent = await _until_report(platform, job["id"], MeterReportStatus.SENT, timeout=60)
    assert sent.images == 1
    assert (await billing_on_the_job(api_server, key.secret, job["id"]))["status"] == "sent"
    assert await accepted_meter_events(stripe_server, f"{job['id']}-images") == [1.0]


async def accepted_meter_events(stripe_server, identifier: str) -> list[float]:
    """The values of the meter events Stripe took under `identifier` (a duplicate it refused is not among them)."""
    events = await stripe_server.meter_events(identifier=identifier)
    return [float(e["value"]) for e in events["data"] if e["accepted"]]


def api_server_billing(platform) -> StripeBilling:
    """The platform's StripeBilling, as the worker's activity builds it."""
    return StripeBilling(stripe_client(platform.settings), platform.sessionmaker, platform.settings)


async def _customer_of(platform, account_id: str) -> str:
    async with platform.sessionmaker() as session:
        return (await user_queries.get_user(session, account_id)).stripe_customer_id


async def _until_report(platform, job_id: str, status: MeterReportStatus | None = None, timeout: float = 30,
                        with_error: bool = False):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with platform.sessionmaker() as session:
            report = await billing_queries.get_meter_report(session, job_id)
        if report is not None and (status is None or report.status == status) and \
                (status is not None or report.status != MeterReportStatus.PENDING) and \
                (report.last_error or not with_error):
            return report
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {status or 'final'} meter report for job {job_id}")


async def _until_all_delivered(stripe_server, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await stripe_server.deliveries())["pending"]:
        assert asyncio.get_running_loop().time() < deadline, "webhooks still pending"
        await asyncio.sleep(0.1)
