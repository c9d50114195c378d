"""Buying plans in tests the way a creator does: the platform's checkout, the Stripe test server's hosted page (or
its control endpoint standing for it), and waiting until the webhook events have been handled."""

from __future__ import annotations

import asyncio
import time

from db import billing as billing_queries


async def subscription_of(platform, account_id: str):
    async with platform.sessionmaker() as session:
        return await billing_queries.get_subscription(session, account_id)


async def until_subscription(platform, account_id: str, check, timeout: float = 30):
    """The account's subscription once `check(subscription)` holds (events are handled by workflows, a moment
    after Stripe sends them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subscription = await subscription_of(platform, account_id)
        if subscription is not None and check(subscription):
            return subscription
        await asyncio.sleep(0.1)
    raise AssertionError(f"subscription of {account_id} never matched: {await subscription_of(platform, account_id)}")


async def buy(creator, stripe_server, plan: str, card: str = "4242424242424242") -> dict:
    """Checkout for `plan` and pay on the hosted page's behalf; what the payment answered."""
    response = await creator.http.post("/creator/billing/checkout", json={"plan": plan})
    assert response.status_code == 200, response.text
    session_id = response.json()["url"].rstrip("/").rsplit("/", 1)[-1]
    return await stripe_server.pay_checkout(session_id, card=card)


async def billing_view(creator) -> dict:
    response = await creator.http.get("/creator/billing")
    assert response.status_code == 200, response.text
    return response.json()
