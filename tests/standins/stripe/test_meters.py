"""Billing meters and meter events: events are recorded (GET /_stripe/meter_events), a second event with
an identifier already used is refused as Stripe refuses it, usage is summed into the renewal invoice."""

from __future__ import annotations

import pytest
import stripe


async def send(client, customer_id: str, value: int | str, identifier: str | None = None, **extra):
    params = {"event_name": "api_generations",
              "payload": {"stripe_customer_id": customer_id, "value": str(value)}, **extra}
    if identifier is not None:
        params["identifier"] = identifier
    return await client.v1.billing.meter_events.create_async(params)


async def test_meters_are_created_listed_and_retrieved(client, catalog):
    meter = catalog.meter
    assert meter.id.startswith("mtr_") and meter.object == "billing.meter" and meter.status == "active"
    assert meter.default_aggregation.formula == "sum" and meter.event_name == "api_generations"
    assert meter.customer_mapping.to_dict() == {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    assert meter.value_settings.event_payload_key == "value"
    assert [m.id for m in (await client.v1.billing.meters.list_async()).data] == [meter.id]
    assert (await client.v1.billing.meters.retrieve_async(meter.id)).display_name == "API generations"
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.billing.meters.create_async({"display_name": "again", "event_name": "api_generations",
                                                     "default_aggregation": {"formula": "sum"}})
    assert info.value.param == "event_name"


async def test_meter_events_are_recorded(client, stripe_server, subscribed):
    customer = subscribed.customer.id
    answer = await send(client, customer, 3, "job-1", timestamp=(await stripe_server.now()) - 60)
    assert answer.object == "billing.meter_event" and answer.identifier == "job-1"
    assert answer.payload.to_dict() == {"stripe_customer_id": customer, "value": "3"}
    generated = await send(client, customer, 2)
    assert len(generated.identifier) >= 20
    recorded = await stripe_server.meter_events(customer=customer)
    assert [(e["identifier"], e["customer"], e["value"], e["accepted"]) for e in recorded["data"]] == [
        ("job-1", customer, 3, True), (generated.identifier, customer, 2, True)]
    assert recorded["data"][0]["timestamp"] == answer.timestamp and recorded["data"][0]["meter"]
    assert recorded["counts"] == {"job-1": 1, generated.identifier: 1}


async def test_a_reused_identifier_is_refused_as_stripe_refuses_it(client, stripe_server, subscribed):
    customer = subscribed.customer.id
    await send(client, customer, 5, "job-42")
    with pytest.raises(stripe.InvalidRequestError) as info:
        await send(client, customer, 5, "job-42")
    error = info.value
    assert error.http_status == 400 and error.user_message == "An event already exists with identifier job-42."
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert error.headers["Stripe-Should-Retry"] == "false"
    recorded = await stripe_server.meter_events(identifier="job-42")
    assert len(recorded["data"]) == 1 and recorded["counts"] == {"job-42": 2}
    # A retry of the same request (same Idempotency-Key) is replayed, not refused.
    params = {"event_name": "api_generations", "identifier": "job-43",
              "payload": {"stripe_customer_id": customer, "value": "1"}}
    first = await client.v1.billing.meter_events.create_async(params, {"idempotency_key": "k-43"})
    replay = await client.v1.billing.meter_events.create_async(params, {"idempotency_key": "k-43"})
    assert replay.identifier == first.identifier and replay.last_response.headers["Idempotent-Replayed"] == "true"
    assert len((await stripe_server.meter_events(identifier="job-43"))["data"]) == 1
    # Uniqueness holds for 24 hours.
    await stripe_server.advance(86400 + 1)
    await send(client, customer, 5, "job-42")
    assert (await stripe_server.meter_events(identifier="job-42"))["counts"] == {"job-42": 3}


async def test_usage_is_billed_at_the_end_of_the_period(client, stripe_server, catalog, subscribed):
    customer, sub = subscribed.customer.id, subscribed.subscription
    for i, value in enumerate((10, 20, 12)):
        await send(client, customer, value, f"use-{i}")
    summary = await client.v1.billing.meters.event_summaries.list_async(catalog.meter.id, {
        "customer": customer, "start_time": sub.start_date - 60,
        "end_time": sub["items"].data[0].current_period_end})
    assert [s.aggregated_value for s in summary.data] == [42.0]
    await stripe_server.advance(to="period_end", subscription=sub.id)
    latest = (await client.v1.subscriptions.retrieve_async(sub.id)).latest_invoice
    invoice = await client.v1.invoices.retrieve_async(latest)
    metered = [line for line in invoice.lines.data if line.pricing.price_details.price == catalog.api_metered.id]
    assert [(line.quantity, line.amount) for line in metered] == [(42, 42 * 5)]
    assert invoice.amount_paid == 1000 + 42 * 5


async def test_events_stripe_would_reject_later_are_kept_but_not_billed(client, stripe_server, subscribed):
    customer = subscribed.customer.id
    await send(client, "cus_unknown", 1, "bad-customer")
    await send(client, customer, "1.5", "bad-value")
    await client.v1.billing.meter_events.create_async({"event_name": "no_such_meter", "identifier": "no-meter",
                                                       "payload": {"stripe_customer_id": customer, "value": "1"}})
    errors = {e["identifier"]: e["error"] for e in (await stripe_server.meter_events())["data"]}
    assert errors == {"bad-customer": "meter_event_customer_not_found", "bad-value": "meter_event_invalid_value",
                      "no-meter": "no_meter"}
