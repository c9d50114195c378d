"""/v1/billing/meters (create, list, retrieve, update, deactivate, reactivate, event_summaries) and
/v1/billing/meter_events (create).

Meter events are checked the way Stripe checks them. At once (the request fails):
  - a second event with an `identifier` used in the last 24 hours: 400 invalid_request_error
    "An event already exists with identifier <identifier>." with `Stripe-Should-Retry: false`. (Stripe's
    docs only say uniqueness is enforced over a rolling 24 hours; the answer is the one Stripe gives, as
    recorded by projects that met it, e.g. langfuse/langfuse#16292.) The same request retried with the
    same Idempotency-Key is instead replayed (200, the first answer), as every POST is.
Later (Stripe processes events asynchronously and reports problems in a meter error report, not in the
response): no active meter for `event_name`, no or unknown customer in the payload, a missing or non-whole
value, a timestamp more than 35 days old or more than 5 minutes ahead. Here such an event is accepted
(200), kept with its `error` (GET /_stripe/meter_events shows it) and never counted, and a warning is logged.
"""

from __future__ import annotations

import logging

from aiohttp import web

from .common import get, out, params, path_id, state_of
from .errors import StripeError, invalid, missing_param
from .lists import page
from .render import list_object

log = logging.getLogger("standins.stripe.meters")
DAY = 86400
WINDOWS = {"hour": 3600, "day": DAY}


# --- meters
async def create_meter(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    display_name = p.str("display_name", required=True)
    event_name = p.str("event_name", required=True)
    aggregation = p.sub("default_aggregation", required=True)
    formula = aggregation.str("formula", required=True, choices=["count", "last", "sum"])
    mapping = p.sub("customer_mapping")
    payload_key = (mapping.str("event_payload_key", required=True) if mapping else None) or "stripe_customer_id"
    if mapping is not None:
        mapping.str("type", required=True, choices=["by_id"])
    value_settings = p.sub("value_settings")
    value_key = (value_settings.str("event_payload_key", required=True) if value_settings else None) or "value"
    window = p.str("event_time_window", choices=["day", "hour"])
    p.done()
    if len(event_name) > 100:
        raise invalid("event_name", "event_name must be at most 100 characters.")
    if any(m["event_name"] == event_name and m["status"] == "active" for m in state.store.meters.values()):
        raise invalid("event_name", f"An active meter with event_name `{event_name}` already exists.")
    now = state.now()
    meter = state.store.add("meters", {
        "id": state.ids.new("mtr_"), "created": now, "updated": now, "display_name": display_name,
        "event_name": event_name, "default_aggregation": {"formula": formula},
        "customer_mapping": {"event_payload_key": payload_key, "type": "by_id"},
        "value_settings": {"event_payload_key": value_key}, "event_time_window": window, "status": "active",
        "status_transitions": {"deactivated_at": None}})
    return out(state, "meters", meter)


async def retrieve_meter(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "meters", get(state, "meters", path_id(request)))


async def update_meter(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    meter = get(state, "meters", path_id(request))
    display_name = p.str("display_name")
    p.done()
    if display_name is not None:
        meter["display_name"] = display_name
        meter["updated"] = state.now()
    return out(state, "meters", meter)


async def set_meter_status(request: web.Request, status: str) -> dict:
    state, p = state_of(request), params(request)
    meter = get(state, "meters", path_id(request))
    p.done()
    if status == "active" and any(m["event_name"] == meter["event_name"] and m["status"] == "active"
                                  and m["id"] != meter["id"] for m in state.store.meters.values()):
        raise invalid(None, f"An active meter with event_name `{meter['event_name']}` already exists.")
    meter["status"] = status
    meter["status_transitions"]["deactivated_at"] = state.now() if status == "inactive" else None
    meter["updated"] = state.now()
    return out(state, "meters", meter)


async def deactivate_meter(request: web.Request) -> dict:
    return await set_meter_status(request, "inactive")


async def reactivate_meter(request: web.Request) -> dict:
    return await set_meter_status(request, "active")


async def list_meters(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    status = p.str("status", choices=["active", "inactive"])
    records = [m for m in state.store.newest_first("meters") if status is None or m["status"] == status]
    body = page(records, p, "/v1/billing/meters", lambda r: out(state, "meters", r), "meters")
    p.done()
    return body


async def event_summaries(request: web.Request) -> dict:
    """The meter's aggregate for one customer over [start_time, end_time), whole or per hour / day."""
    from .billing import usage

    state, p = state_of(request), params(request)
    meter = get(state, "meters", path_id(request))
    customer = p.str("customer", required=True)
    start, end = p.int("start_time", required=True), p.int("end_time", required=True)
    window = p.str("value_grouping_window", choices=["day", "hour"])
    p.int("limit")
    p.done()
    if end <= start:
        raise invalid("end_time", "end_time must be after start_time.")
    step = WINDOWS[window] if window else end - start
    if window and (start % step or end % step):
        raise invalid("start_time", f"start_time and end_time must be aligned to the {window} boundaries.")
    data = []
    for bucket in range(start, end, step):
        data.append({"id": state.ids.new("mtrusg_"), "object": "billing.meter_event_summary",
                     "aggregated_value": float(usage(state, customer, meter["id"], bucket, min(bucket + step, end))),
                     "end_time": min(bucket + step, end), "livemode": False, "meter": meter["id"],
                     "start_time": bucket})
    return list_object(data, f"/v1/billing/meters/{meter['id']}/event_summaries")


# --- meter events
def check_later(state, event: dict) -> str | None:
    """What Stripe's asynchronous processing would report about this event (None: it counts)."""
    now = state.now()
    if event["timestamp"] < now - 35 * DAY:
        return "timestamp_too_far_in_past"
    if event["timestamp"] > now + 300:
        return "timestamp_in_future"
    meter = next((m for m in state.store.meters.values()
                  if m["event_name"] == event["event_name"] and m["status"] == "active"), None)
    if meter is None:
        return "no_meter"
    event["meter"] = meter["id"]
    customer_id = event["payload"].get(meter["customer_mapping"]["event_payload_key"])
    if not customer_id:
        return "meter_event_no_customer_defined"
    customer = state.store.customers.get(customer_id)
    if customer is None or customer.get("deleted"):
        return "meter_event_customer_not_found"
    event["customer"] = customer_id
    if meter["default_aggregation"]["formula"] == "count":
        event["value"] = 1
        return None
    raw = event["payload"].get(meter["value_settings"]["event_payload_key"])
    if raw is None:
        return "meter_event_value_not_found"
    try:
        event["value"] = int(raw)
    except ValueError:
        return "meter_event_invalid_value"
    return None


async def create_meter_event(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    event_name = p.str("event_name", required=True)
    payload = p.raw("payload")
    if payload is None or payload == "":
        raise missing_param("payload")
    if not isinstance(payload, dict) or any(not isinstance(v, str) for v in payload.values()):
        raise invalid("payload", "Invalid hash: payload values must be strings.")
    identifier = p.str("identifier")
    timestamp = p.int("timestamp")
    p.done()
    if identifier is not None and len(identifier) > 100:
        raise invalid("identifier", "identifier must be at most 100 characters.")
    now = state.now()
    if identifier is None:
        identifier = state.ids.new("", 36)
    store = state.store
    store.identifier_submissions[identifier] = store.identifier_submissions.get(identifier, 0) + 1
    if any(e["identifier"] == identifier and e["created"] > now - DAY for e in store.meter_events):
        raise StripeError(400, f"An event already exists with identifier {identifier}.",
                          headers={"Stripe-Should-Retry": "false"})
    store.sequence += 1
    event = {"seq": store.sequence, "identifier": identifier, "event_name": event_name, "payload": dict(payload),
             "timestamp": timestamp if timestamp is not None else now, "created": now, "meter": None,
             "customer": None, "value": None}
    event["error"] = check_later(state, event)
    event["accepted"] = event["error"] is None
    if not event["accepted"]:
        log.warning("Stripe stand-in meter event %s (%s) will not be billed: %s", identifier, event_name,
                    event["error"])
    store.meter_events.append(event)
    return {"object": "billing.meter_event", "created": now, "event_name": event_name, "identifier": identifier,
            "livemode": False, "payload": dict(payload), "timestamp": event["timestamp"]}


ROUTES = [
    ("POST", "/v1/billing/meters", create_meter),
    ("GET", "/v1/billing/meters", list_meters),
    ("GET", "/v1/billing/meters/{id}", retrieve_meter),
    ("POST", "/v1/billing/meters/{id}", update_meter),
    ("POST", "/v1/billing/meters/{id}/deactivate", deactivate_meter),
    ("POST", "/v1/billing/meters/{id}/reactivate", reactivate_meter),
    ("GET", "/v1/billing/meters/{id}/event_summaries", event_summaries),
    ("POST", "/v1/billing/meter_events", create_meter_event),
]
