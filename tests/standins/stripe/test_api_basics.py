"""Customers, products and prices through the SDK, and the parts of Stripe's API every call shares: keys,
error shapes, unknown parameters and URLs, idempotency, pagination, API versions."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import stripe

from .conftest import API_KEY, make_client


async def test_customers_are_created_retrieved_and_updated(client):
    made = await client.v1.customers.create_async({"email": "ada@example.com", "name": "Ada",
                                                   "metadata": {"user_id": "42", "plan": "free"}})
    assert made.id.startswith("cus_") and len(made.id) == 18 and made.object == "customer"
    assert (made.email, made.name, made.livemode, made.balance) == ("ada@example.com", "Ada", False, 0)
    assert made.invoice_settings.default_payment_method is None
    again = await client.v1.customers.retrieve_async(made.id)
    assert again.to_dict() == made.to_dict()
    updated = await client.v1.customers.update_async(made.id, {"metadata": {"plan": "pro", "user_id": ""}})
    assert updated.metadata.to_dict() == {"plan": "pro"}  # "" deletes a key, as on Stripe
    listed = await client.v1.customers.list_async({"email": "ada@example.com"})
    assert [c.id for c in listed.data] == [made.id] and listed.url == "/v1/customers"


async def test_prices_are_found_by_lookup_key(client, catalog):
    found = await client.v1.prices.list_async({"lookup_keys": ["pro_monthly", "studio_monthly"], "active": True})
    assert {p.lookup_key: p.unit_amount for p in found.data} == {"pro_monthly": 1000, "studio_monthly": 3000}
    assert found.object == "list" and found.has_more is False
    price = await client.v1.prices.retrieve_async(catalog.pro_monthly.id, {"expand": ["product"]})
    assert price.id.startswith("price_") and price.type == "recurring" and price.product.name == "Creator plans"
    assert price.recurring.to_dict() == {"interval": "month", "interval_count": 1, "meter": None,
                                         "trial_period_days": None, "usage_type": "licensed"}
    assert catalog.api_metered.recurring.usage_type == "metered"
    assert catalog.api_metered.recurring.meter == catalog.meter.id
    await client.v1.prices.update_async(catalog.studio_monthly.id, {"active": False})
    active = await client.v1.prices.list_async({"product": catalog.pro.id, "active": True})
    assert [p.id for p in active.data] == [catalog.pro_monthly.id]


async def test_a_lookup_key_names_one_price_unless_transferred(client, catalog):
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.prices.create_async({"product": catalog.pro.id, "currency": "usd", "unit_amount": 1200,
                                             "recurring": {"interval": "month"}, "lookup_key": "pro_monthly"})
    assert info.value.param == "lookup_key" and catalog.pro_monthly.id in info.value.user_message
    moved = await client.v1.prices.create_async({"product": catalog.pro.id, "currency": "usd", "unit_amount": 1200,
                                                 "recurring": {"interval": "month"}, "lookup_key": "pro_monthly",
                                                 "transfer_lookup_key": True})
    found = await client.v1.prices.list_async({"lookup_keys": ["pro_monthly"]})
    assert [p.id for p in found.data] == [moved.id]
    assert (await client.v1.prices.retrieve_async(catalog.pro_monthly.id)).lookup_key is None


async def test_a_metered_price_needs_a_meter(client, catalog):
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.prices.create_async({"product": catalog.pro.id, "currency": "usd", "unit_amount": 1,
                                             "recurring": {"interval": "month", "usage_type": "metered"}})
    assert info.value.param == "recurring[meter]"
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.prices.create_async({"product": catalog.pro.id, "currency": "usd", "unit_amount": 1,
                                             "recurring": {"interval": "month", "usage_type": "metered",
                                                           "meter": "mtr_missing"}})
    assert info.value.code == "resource_missing" and info.value.http_status == 400


async def test_an_unknown_id_is_a_404_in_stripes_shape(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.customers.retrieve_async("cus_doesnotexist")
    error = info.value
    assert error.http_status == 404 and error.code == "resource_missing" and error.param == "id"
    assert error.json_body == {"error": {
        "type": "invalid_request_error", "message": "No such customer: 'cus_doesnotexist'",
        "code": "resource_missing", "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        "param": "id"}}
    assert error.request_id.startswith("req_")
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.subscriptions.retrieve_async("sub_nope")
    assert info.value.http_status == 404 and "No such subscription: 'sub_nope'" in str(info.value)


async def test_a_bad_api_key_is_a_401(stripe_server):
    with pytest.raises(stripe.AuthenticationError) as info:
        await make_client(stripe_server, "sk_live_wrongwrongwrong1234").v1.customers.list_async()
    assert info.value.http_status == 401
    message = info.value.user_message
    assert message.startswith("Invalid API Key provided: sk_live_*") and message.endswith("*1234")
    assert "wrongwrong" not in message
    async with httpx.AsyncClient() as http:
        bare = await http.get(stripe_server.url + "/v1/customers")
        basic = await http.get(stripe_server.url + "/v1/customers", auth=(API_KEY, ""))
    assert bare.status_code == 401 and "You did not provide an API key" in bare.json()["error"]["message"]
    assert basic.status_code == 200 and basic.json()["object"] == "list"


async def test_only_the_configured_keys_are_accepted_when_some_are_given():
    from standins.stripe import StripeConfig, start_stripe

    server = await start_stripe("127.0.0.1", 0, StripeConfig(api_keys=("sk_test_only",)))
    try:
        assert (await make_client(server, "sk_test_only").v1.customers.list_async()).data == []
        with pytest.raises(stripe.AuthenticationError):
            await make_client(server, "sk_test_other").v1.customers.list_async()
    finally:
        await server.stop()


async def test_unknown_parameters_are_refused_not_ignored(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.customers.create_async({"email": "x@example.com", "tax_id_data": [{"type": "eu_vat"}]})
    assert info.value.code == "parameter_unknown" and info.value.param == "tax_id_data[0][type]"
    assert info.value.user_message.startswith("Received unknown parameter: tax_id_data[0][type]")
    assert (await client.v1.customers.list_async()).data == []  # nothing was made
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.prices.create_async({"currency": "usd", "unit_amount": 1})
    assert info.value.code == "parameter_missing" and info.value.param == "product"


async def test_an_unimplemented_endpoint_is_a_404_and_one_log_line(client, caplog):
    caplog.set_level(logging.WARNING, logger="standins.stripe")
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.coupons.create_async({"percent_off": 10, "duration": "once"})
    assert info.value.http_status == 404
    assert info.value.user_message.startswith("Unrecognized request URL (POST: /v1/coupons).")
    lines = [r.getMessage() for r in caplog.records if "does not implement" in r.getMessage()]
    assert lines == ["Stripe stand-in does not implement POST /v1/coupons (parameters: duration, percent_off)"]


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters(client):
    first = await client.v1.customers.create_async({"email": "once@example.com"}, {"idempotency_key": "k-1"})
    again = await client.v1.customers.create_async({"email": "once@example.com"}, {"idempotency_key": "k-1"})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len((await client.v1.customers.list_async()).data) == 1
    with pytest.raises(stripe.IdempotencyError) as info:
        await client.v1.customers.create_async({"email": "other@example.com"}, {"idempotency_key": "k-1"})
    assert info.value.http_status == 400 and "k-1" in info.value.user_message


async def test_lists_page_newest_first_and_the_sdk_pages_through_them(client):
    made = [await client.v1.customers.create_async({"email": f"c{i}@example.com"}) for i in range(5)]
    first = await client.v1.customers.list_async({"limit": 2})
    assert [c.id for c in first.data] == [made[4].id, made[3].id] and first.has_more
    every = [c.id async for c in (await client.v1.customers.list_async({"limit": 2})).auto_paging_iter()]
    assert every == [c.id for c in reversed(made)]
    before = await client.v1.customers.list_async({"limit": 2, "ending_before": made[1].id})
    assert [c.id for c in before.data] == [made[3].id, made[2].id]


async def test_the_blocking_client_works_too(client):
    # Product code may call the SDK synchronously (requests); the server runs on this loop, so in a thread.
    made = await asyncio.to_thread(client.v1.customers.create, {"email": "sync@example.com"})
    assert (await asyncio.to_thread(client.v1.customers.retrieve, made.id)).email == "sync@example.com"


async def test_older_api_versions_get_their_fields(stripe_server, subscribed):
    old = make_client(stripe_server, stripe_version="2024-06-20")
    sub = await old.v1.subscriptions.retrieve_async(subscribed.subscription.id)
    assert sub.current_period_end == sub["items"].data[0].current_period_end
    invoice = await old.v1.invoices.retrieve_async(sub.latest_invoice)
    assert invoice.subscription == sub.id and invoice.paid is True
    assert invoice.lines.data[0].price.id == sub["items"].data[0].price.id
    assert sub.last_response.headers["Stripe-Version"] == "2024-06-20"
    # The current version has them where basil moved them, and not the old ones.
    new = subscribed.subscription
    assert "current_period_end" not in new and new["items"].data[0].current_period_end > new.start_date


async def test_reset_empties_everything(client, stripe_server, subscribed):
    await stripe_server.advance(3600)
    await stripe_server.reset()
    assert (await client.v1.customers.list_async()).data == []
    assert (await client.v1.prices.list_async()).data == []
    assert (await client.v1.events.list_async()).data == []
    assert (await stripe_server.meter_events()) == {"data": [], "counts": {}}
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.subscriptions.retrieve_async(subscribed.subscription.id)
    async with httpx.AsyncClient() as http:
        index = await http.get(stripe_server.url + "/")
    assert "Stripe TEST STAND-IN (not Stripe)" in index.text
