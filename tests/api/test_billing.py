"""Buying a plan, as a creator does: checkout on the Stripe test server with the real SDK, its signed webhook events,
the plan and what it includes; refusals in plain words; forged events stored nowhere."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from db.models import StripeEvent
from standins.stripe import ControlError
from tests.fixtures.stripe import STRIPE_WEBHOOK_SECRET
from tests.helpers.billing import billing_view, buy, until_subscription


def signature(body: str, at: int | None = None) -> str:
    """A Stripe-Signature header for `body`, made as Stripe makes them (HMAC-SHA256 of "t.body")."""
    at = int(time.time()) if at is None else at
    return f"t={at},v1=" + stripe.WebhookSignature._compute_signature(f"{at}.{body}", STRIPE_WEBHOOK_SECRET)


async def test_paying_at_checkout_activates_the_plan_and_raises_the_quota(creator, stripe_server, platform):
    before = await billing_view(creator)
    assert (before["plan"], before["status"]) == ("free", "free")
    assert before["creator_photos"]["included"] == 100000

    await buy(creator, stripe_server, "creator")
    subscription = await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    assert subscription.plan == "creator"
    after = await billing_view(creator)
    assert (after["plan"], after["status"], after["notice"]) == ("creator", "active", None)
    assert after["creator_photos"] == {"used": 0, "included": 2}
    assert after["period_end"] > after["period_start"]
    assert [i["status"] for i in after["invoices"]] == ["paid"]


async def test_a_declined_card_leaves_the_plan_as_it_was(creator, stripe_server):
    with pytest.raises(ControlError) as declined:
        await buy(creator, stripe_server, "creator", card="4000000000000341")
    assert declined.value.status == 402
    view = await billing_view(creator)
    assert (view["plan"], view["status"]) == ("free", "free")


async def test_checkout_refuses_an_unknown_plan_the_default_one_and_the_one_held(creator, stripe_server, platform):
    unknown = await creator.http.post("/creator/billing/checkout", json={"plan": "gold"})
    assert unknown.status_code == 422
    assert unknown.json()["error"] == {"code": "unknown_plan", "details": {"field": "plan"},
                                       "message": "there is no plan 'gold'; plans are free, creator, pro"}
    free = await creator.http.post("/creator/billing/checkout", json={"plan": "free"})
    assert free.status_code == 422 and "not sold" in free.json()["error"]["message"]
    await buy(creator, stripe_server, "creator")
    await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    again = await creator.http.post("/creator/billing/checkout", json={"plan": "creator"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_on_plan"


async def test_an_account_on_one_plan_switches_to_another_without_a_second_subscription(creator, stripe_server,
                                                                                    platform):
    await buy(creator, stripe_server, "creator")
    first = await until_subscription(platform, creator.user_id, lambda s: s.status == "active")
    switched = await creator.http.post("/creator/billing/checkout", json={"plan": "pro"})
    assert switched.status_code == 200 and switched.json()["url"].endswith("/creator/billing?checkout=success")
    pro = await until_subscription(platform, creator.user_id, lambda s: s.plan == "pro")
    assert pro.stripe_subscription_id == first.stripe_subscription_id


async def test_the_portal_opens_for_the_creator_s_own_customer(creator, stripe_server):
    response = await creator.http.post("/creator/billing/portal")
    assert response.status_code == 200, response.text
    async with httpx.AsyncClient() as browser:
        page = await browser.get(response.json()["url"])
    assert page.status_code == 200 and creator.email in page.text


async def test_forged_stale_or_unsigned_events_are_400_and_stored_nowhere(api_server, platform):
    body = json.dumps({"id": "evt_forged", "object": "event", "type": "customer.subscription.updated",
                       "data": {"object": {"object": "subscription", "customer": "cus_x"}}})
    headers = [{},  # unsigned
               {"Stripe-Signature": f"t={int(time.time())},v1=deadbeef"},  # forged
               {"Stripe-Signature": signature(body, at=int(time.time()) - 3600)}]  # stale: an hour old
    async with httpx.AsyncClient(base_url=api_server.url) as http:
        for header in headers:
            response = await http.post("/webhooks/stripe", content=body,
                                       headers={"Content-Type": "application/json", **header})
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "bad_signature"
    async with platform.sessionmaker() as session:
        assert await session.scalar(select(func.count()).where(StripeEvent.id == "evt_forged")) == 0


async def test_an_event_for_a_customer_of_no_account_is_recorded_and_ignored(api_server, platform):
    body = json.dumps({"id": "evt_stranger", "object": "event", "type": "invoice.paid",
                       "data": {"object": {"object": "invoice", "customer": "cus_nobody_here"}}})
    async with httpx.AsyncClient(base_url=api_server.url) as http:
        response = await http.post("/webhooks/stripe", content=body,
                                   headers={"Content-Type": "application/json", "Stripe-Signature": signature(body)})
    assert response.status_code == 200, response.text
    handle = platform.client.get_workflow_handle("stripe-event-evt_stranger")
    assert "belongs to no account: ignored" in await handle.result()
    async with platform.sessionmaker() as session:
        event = await session.get(StripeEvent, "evt_stranger")
    assert event.handled_at is not None and "ignored" in event.outcome


async def test_an_event_billing_does_not_act_on_is_recorded_without_a_workflow(api_server, platform):
    body = json.dumps({"id": "evt_product", "object": "event", "type": "product.created",
                       "data": {"object": {"object": "product", "id": "prod_x"}}})
    async with httpx.AsyncClient(base_url=api_server.url) as http:
        for _ in range(2):  # and once only, however often it comes
            response = await http.post("/webhooks/stripe", content=body, headers={
                "Content-Type": "application/json", "Stripe-Signature": signature(body)})
            assert response.status_code == 200, response.text
    async with platform.sessionmaker() as session:
        event = await session.get(StripeEvent, "evt_product")
    assert event.handled_at is not None and event.outcome == "ignored: product.created changes no plan"
    assert [run async for run in platform.client.list_workflows('WorkflowId = "stripe-event-evt_product"')] == []


async def test_stripe_down_at_checkout_is_503_with_retry_after(creator, stripe_server):
    await stripe_server.stop()
    try:
        response = await creator.http.post("/creator/billing/checkout", json={"plan": "creator"})
    finally:
        await stripe_server.start()
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "billing_unavailable" and response.headers["Retry-After"]
