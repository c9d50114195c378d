"""Webhooks: endpoints registered through the SDK or given at start, events signed as Stripe signs them
(stripe.Webhook.construct_event verifies them, a forged one fails), retries after a failing receiver, and
the delivery controls: hold and release in order or reversed, duplicates, late deliveries."""

from __future__ import annotations

import asyncio
import json

import pytest
import stripe

from standins.stripe import StripeConfig, start_stripe
from tests.helpers.webhook_receiver import running_receiver

from .conftest import FAST_RETRIES, eventually, make_client


async def register(client, url: str, events: list[str]) -> stripe.WebhookEndpoint:
    return await client.v1.webhook_endpoints.create_async({"url": url, "enabled_events": events})


def verified(received, secret: str) -> stripe.Event:
    return stripe.Webhook.construct_event(received.body, received.headers["Stripe-Signature"], secret)


async def test_events_arrive_signed_and_verify_with_the_sdk(client):
    async with running_receiver() as receiver:
        endpoint = await register(client, receiver.url, ["customer.created", "customer.updated"])
        assert endpoint.id.startswith("we_") and endpoint.secret.startswith("whsec_") and endpoint.status == "enabled"
        assert "secret" not in await client.v1.webhook_endpoints.retrieve_async(endpoint.id)
        customer = await client.v1.customers.create_async({"email": "hook@example.com"},
                                                          {"idempotency_key": "create-hook"})
        await client.v1.customers.update_async(customer.id, {"name": "Hook"})
        await client.v1.products.create_async({"name": "not listened to"})
        first, second = await receiver.wait_for(2)
    event = verified(first, endpoint.secret)
    assert event.id.startswith("evt_") and event.type == "customer.created" and event.livemode is False
    assert event.data.object.id == customer.id and event.data.object.email == "hook@example.com"
    assert event.request.idempotency_key == "create-hook" and event.request.id.startswith("req_")
    assert event.api_version == client._requestor._options.stripe_version
    assert first.headers["Content-Type"].startswith("application/json")
    updated = verified(second, endpoint.secret)
    assert updated.type == "customer.updated" and updated.data.previous_attributes.to_dict() == {"name": None}
    stored = await client.v1.events.retrieve_async(event.id)
    assert stored.data.object.id == customer.id
    assert [e.id for e in (await client.v1.events.list_async({"type": "customer.*"})).data] == [updated.id, event.id]


async def test_a_forged_or_stale_signature_does_not_verify(client):
    async with running_receiver() as receiver:
        endpoint = await register(client, receiver.url, ["*"])
        await client.v1.customers.create_async({"email": "x@example.com"})
        (received,) = await receiver.wait_for(1)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(received.body, received.headers["Stripe-Signature"], "whsec_not_the_secret")
    tampered = received.body.replace(b"x@example.com", b"y@example.com")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, received.headers["Stripe-Signature"], endpoint.secret)
    forged = stripe.WebhookSignature.generate_signature_header(received.body.decode(), "whsec_forger")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(received.body, forged, endpoint.secret)
    verified(received, endpoint.secret)  # the genuine one still does


async def test_a_failing_receiver_gets_the_event_again(client, stripe_server):
    async with running_receiver(500, 503) as receiver:
        endpoint = await register(client, receiver.url, ["customer.created"])
        await client.v1.customers.create_async({"email": "retry@example.com"})
        attempts = await receiver.wait_for(3)
    events = [verified(a, endpoint.secret) for a in attempts]
    assert len({e.id for e in events}) == 1
    log = (await stripe_server.deliveries())["attempts"]
    assert [(a["attempt"], a["status"], a["delivered"]) for a in log] == [(1, 500, False), (2, 503, False),
                                                                         (3, 200, True)]
    stored = await client.v1.events.retrieve_async(events[0].id)
    assert stored.pending_webhooks == 0


async def test_an_unreachable_receiver_is_given_up_after_the_last_retry(client, stripe_server):
    from tests.helpers.ports import free_port

    await register(client, f"http://127.0.0.1:{free_port()}/gone", ["customer.created"])
    made = await client.v1.customers.create_async({"email": "lost@example.com"})
    log = await eventually(lambda: _finished(stripe_server, len(FAST_RETRIES) + 1))
    assert all(a["status"] is None and "Error" in a["error"] for a in log)
    event = (await client.v1.events.list_async({"type": "customer.created"})).data[0]
    assert event.data.object.id == made.id and event.pending_webhooks == 0


async def _finished(server, count: int):
    state = await server.deliveries()
    return state["attempts"] if len(state["attempts"]) >= count and not state["pending"] else None


async def test_held_events_are_released_in_reverse_order(client, stripe_server):
    async with running_receiver() as receiver:
        endpoint = await register(client, receiver.url, ["customer.created"])
        await stripe_server.hold_webhooks()
        made = [await client.v1.customers.create_async({"email": f"{i}@example.com"}) for i in range(3)]
        await asyncio.sleep(0.1)
        assert receiver.requests == [] and len((await stripe_server.deliveries())["pending"]) == 3
        assert await stripe_server.release_webhooks("reverse") == 3
        received = await receiver.wait_for(3)
    assert [verified(r, endpoint.secret).data.object.id for r in received] == [c.id for c in reversed(made)]


async def test_held_events_can_be_released_in_order(client, stripe_server):
    async with running_receiver() as receiver:
        endpoint = await register(client, receiver.url, ["customer.created"])
        await stripe_server.hold_webhooks()
        made = [await client.v1.customers.create_async({"email": f"{i}@example.com"}) for i in range(3)]
        await stripe_server.release_webhooks()
        received = await receiver.wait_for(3)
    assert [verified(r, endpoint.secret).data.object.id for r in received] == [c.id for c in made]


async def test_an_event_can_be_delivered_twice(client, stripe_server):
    async with running_receiver() as receiver:
        endpoint = await register(client, receiver.url, ["customer.created"])
        await client.v1.customers.create_async({"email": "twice@example.com"})
        (first,) = await receiver.wait_for(1)
        event = verified(first, endpoint.secret)
        assert await stripe_server.deliver_again(event.id) == 1
        _, second = await receiver.wait_for(2)
    again = verified(second, endpoint.secret)
    first_body, second_body = json.loads(first.body), json.loads(second.body)
    assert first_body.pop("pending_webhooks") == 1 and second_body.pop("pending_webhooks") == 0
    assert again.id == event.id and second_body == first_body
    assert [a["duplicate"] for a in (await stripe_server.deliveries())["attempts"]] == [False, True]


async def test_late_deliveries(client, stripe_server):
    async with running_receiver() as receiver:
        await register(client, receiver.url, ["customer.created"])
        await stripe_server.delay_webhooks(1.0)
        await client.v1.customers.create_async({"email": "late@example.com"})
        await asyncio.sleep(0.2)
        assert receiver.requests == []
        await receiver.wait_for(1)
        event = (await client.v1.events.list_async()).data[0]
        await stripe_server.delay_webhooks(0)
        assert await stripe_server.deliver_again(event.id, delay=0.5) == 1  # a duplicate, late
        await asyncio.sleep(0.1)
        assert len(receiver.requests) == 1
        await receiver.wait_for(2)


async def test_billing_events_follow_a_subscription(client, stripe_server, catalog):
    from .conftest import subscribe

    kinds = ["checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
             "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed"]
    async with running_receiver() as receiver:
        endpoint = await register(client, receiver.url, kinds)
        creator = await subscribe(client, stripe_server, [(catalog.pro_monthly.id, 1)])
        await stripe_server.fail_charges(creator.customer.id)
        await stripe_server.advance(to="period_end", subscription=creator.subscription.id)
        await client.v1.subscriptions.cancel_async(creator.subscription.id)
        received = await receiver.wait_for(7)
    events = [verified(r, endpoint.secret) for r in received]
    assert [e.type for e in events] == [
        "customer.subscription.created", "invoice.paid", "checkout.session.completed",
        "customer.subscription.updated", "invoice.payment_failed", "customer.subscription.updated",
        "customer.subscription.deleted"]
    assert events[2].data.object.subscription == creator.subscription.id
    assert events[5].data.object.status == "past_due" and events[6].data.object.status == "canceled"


async def test_the_endpoint_given_at_start_uses_the_given_secret():
    async with running_receiver() as receiver:
        server = await start_stripe("127.0.0.1", 0, StripeConfig(
            webhook_url=receiver.url, webhook_secret="whsec_devsecret", retry_delays=FAST_RETRIES))
        try:
            client = make_client(server)
            endpoints = (await client.v1.webhook_endpoints.list_async()).data
            assert [e.url for e in endpoints] == [receiver.url]
            await client.v1.customers.create_async({"email": "dev@example.com"})
            (received,) = await receiver.wait_for(1)
            assert verified(received, "whsec_devsecret").type == "customer.created"
            await server.reset()  # a reset keeps it
            assert [e.url for e in (await client.v1.webhook_endpoints.list_async()).data] == [receiver.url]
        finally:
            await server.stop()


async def test_a_disabled_or_deleted_endpoint_gets_nothing(client, stripe_server):
    async with running_receiver() as receiver:
        endpoint = await register(client, receiver.url, ["*"])
        await client.v1.webhook_endpoints.update_async(endpoint.id, {"disabled": True})
        await client.v1.customers.create_async({"email": "quiet@example.com"})
        deleted = await client.v1.webhook_endpoints.delete_async(endpoint.id)
        assert deleted.deleted is True
        await client.v1.customers.create_async({"email": "quieter@example.com"})
        await asyncio.sleep(0.2)
        assert receiver.requests == []
