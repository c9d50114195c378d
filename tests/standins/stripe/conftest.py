"""The Stripe stand-in seen through the real stripe SDK, over real HTTP.

Each test gets its own stand-in (`stripe_server`, a standins.stripe.RunningStripe on a free port: starting
one takes milliseconds), so clocks, webhooks and held deliveries never leak between tests. `client` is a
stripe.StripeClient aimed at it exactly as the product will configure one (base_addresses); tests call the
SDK's *_async methods, which share the test's event loop with the server. `catalog` makes the products,
prices and meter most tests need; `subscribed` a customer who paid for Pro monthly plus metered API use.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
import pytest_asyncio
import stripe

from standins.stripe import RunningStripe, StripeConfig, start_stripe

API_KEY = "sk_test_standin_tests"
# Webhook retries in tests: fast, three of them.
FAST_RETRIES = (0.05, 0.1, 0.2)


def make_client(server: RunningStripe, api_key: str = API_KEY, **options) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses=server.base_addresses, max_network_retries=0, **options)


@pytest_asyncio.fixture
async def stripe_server() -> RunningStripe:
    server = await start_stripe("127.0.0.1", 0, StripeConfig(retry_delays=FAST_RETRIES, seed="tests"))
    yield server
    await server.stop()


@pytest.fixture
def client(stripe_server: RunningStripe) -> stripe.StripeClient:
    return make_client(stripe_server)


@dataclass
class Catalog:
    pro: stripe.Product
    pro_monthly: stripe.Price
    studio_monthly: stripe.Price
    meter: stripe.billing.Meter
    api_metered: stripe.Price


@pytest_asyncio.fixture
async def catalog(client: stripe.StripeClient) -> Catalog:
    pro = await client.v1.products.create_async({"name": "Creator plans"})
    pro_monthly = await client.v1.prices.create_async({
        "product": pro.id, "currency": "usd", "unit_amount": 1000, "recurring": {"interval": "month"},
        "lookup_key": "pro_monthly", "nickname": "Pro"})
    studio_monthly = await client.v1.prices.create_async({
        "product": pro.id, "currency": "usd", "unit_amount": 3000, "recurring": {"interval": "month"},
        "lookup_key": "studio_monthly", "nickname": "Studio"})
    meter = await client.v1.billing.meters.create_async({
        "display_name": "API generations", "event_name": "api_generations",
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
        "value_settings": {"event_payload_key": "value"}})
    api_metered = await client.v1.prices.create_async({
        "product_data": {"name": "Developer API"}, "currency": "usd", "unit_amount": 5,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id}, "lookup_key": "api_metered"})
    return Catalog(pro, pro_monthly, studio_monthly, meter, api_metered)


@dataclass
class Subscribed:
    customer: stripe.Customer
    session: stripe.checkout.Session
    subscription: stripe.Subscription


async def subscribe(client: stripe.StripeClient, server: RunningStripe, prices: list[tuple[str, int | None]],
                    email: str = "creator@example.com", card: str = "4242424242424242") -> Subscribed:
    customer = await client.v1.customers.create_async({"email": email, "name": "Creator"})
    session = await client.v1.checkout.sessions.create_async({
        "mode": "subscription", "customer": customer.id, "success_url": "https://app.test/ok",
        "line_items": [{"price": price} if quantity is None else {"price": price, "quantity": quantity}
                       for price, quantity in prices]})
    await server.pay_checkout(session.id, card)
    session = await client.v1.checkout.sessions.retrieve_async(session.id, {"expand": ["subscription"]})
    return Subscribed(customer, session, session.subscription)


@pytest_asyncio.fixture
async def subscribed(client, stripe_server, catalog) -> Subscribed:
    return await subscribe(client, stripe_server, [(catalog.pro_monthly.id, 1), (catalog.api_metered.id, None)])


async def eventually(check, timeout: float = 5.0):
    """Poll an async check until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.02)
