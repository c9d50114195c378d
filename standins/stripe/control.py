"""/_stripe/*: controls for tests and `make dev`. Not Stripe's API; no key. Bodies and answers are JSON;
a refusal is Stripe's error shape (`{"error": {"type", "message", ...}}`), a declined card a 402 card_error.

POST /_stripe/clock/advance        {"seconds": N} | {"to": <unix time>}
                                   | {"to": "period_end", "subscription": "sub_..."}
                                   -> {"now", "happened": n, "events": ["evt_...", ...]}: renewals (invoice paid
                                   with the default card, or invoice.payment_failed and past_due), payment retries,
                                   cancellations at period end, expired Checkout Sessions, each at its own time
GET  /_stripe/clock                -> {"now", "offset"}
POST /_stripe/clock/wall           -> {"now", "offset": 0}: back to wall time (tests, after moving ahead)
POST /_stripe/checkout/{id}/pay    {"card": "4242424242424242", "exp": "12/34", "cvc": "123", "name", "email"}
                                   -> {"session", "customer", "subscription", "invoice", "redirect_url"}
POST /_stripe/customers/{id}/fail_charges   {"fail": true|false, "decline_code": "generic_decline"}
                                   -> {"customer", "fail_charges": decline code | null}: the customer's next
                                   charges are declined (until false, or a card typed on an invoice page)
POST /_stripe/portal/default_configuration   {"features": {...}, "default_return_url", "business_profile"}
                                   -> the configuration (is_default: true), what the Dashboard would save
POST /_stripe/portal/{bps}/update  {"subscription": "sub_...", "price": "price_..."}  -> the subscription
POST /_stripe/portal/{bps}/cancel  {"subscription": "sub_..."}                        -> the subscription
POST /_stripe/portal/{bps}/renew   {"subscription": "sub_..."}                        -> the subscription
POST /_stripe/webhooks/hold        -> {"holding": true}: new deliveries wait
POST /_stripe/webhooks/release     {"order": "sent" | "reverse"} -> {"released": n}
POST /_stripe/webhooks/delay       {"seconds": N} -> {"delay_s": N}: every new delivery waits N s first
POST /_stripe/events/{id}/deliver  {"delay": 0, "endpoint": "we_..." (default: all that listen)}
                                   -> {"queued": n}: the event again (a duplicate), now or later
GET  /_stripe/webhooks/deliveries  -> {"attempts": [{"event", "type", "endpoint", "url", "attempt", "status",
                                   "error", "delivered", "duplicate", "at"}], "pending": [...], "holding", "delay_s"}
GET  /_stripe/meter_events         ?customer=&event_name=&identifier=  -> {"data": [{"identifier", "event_name",
                                   "customer", "value", "timestamp", "created", "meter", "payload", "accepted",
                                   "error"}], "counts": {identifier: submissions, refused duplicates included}}
POST /_stripe/reset                everything back to empty (the --webhook-url endpoint stays) -> 204
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from aiohttp import web

from . import billing, flows
from .common import out
from .errors import StripeError, no_such
from .params import Params, from_json
from .routes_portal import new_configuration
from .state import StripeState, state_of

log = logging.getLogger("standins.stripe.control")


def refuse(message: str) -> StripeError:
    return StripeError(400, message)


async def body_of(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise refuse("body must be JSON") from None
    if not isinstance(body, dict):
        raise refuse("body must be a JSON object")
    return body


def handles_errors(handler):
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except StripeError as error:
            return error.response()
    wrapped.__name__ = handler.__name__
    return wrapped


def new_events_since(state: StripeState, count: int) -> list[str]:
    return list(state.store.events)[count:]


@handles_errors
async def advance_clock(request: web.Request) -> web.Response:
    state, body = state_of(request), await body_of(request)
    before = len(state.store.events)
    now = state.now()
    if "seconds" in body:
        seconds = body["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise refuse("seconds must be a number >= 0")
        target = now + int(seconds)
    elif body.get("to") == "period_end":
        sub = state.store.subscriptions.get(str(body.get("subscription")))
        if sub is None:
            raise no_such("subscriptions", str(body.get("subscription")), param="subscription", status=400)
        target = max(now, sub["current_period_end"])
    elif isinstance(body.get("to"), int) and not isinstance(body.get("to"), bool):
        target = max(now, body["to"])
    else:
        raise refuse('body must be {"seconds": N}, {"to": <unix time>} or {"to": "period_end", "subscription": id}')
    happened = billing.run_until(state, target)
    log.info("Stripe stand-in clock advanced to %d (%d things happened)", target, happened)
    return web.json_response({"now": state.now(), "happened": happened, "events": new_events_since(state, before)})


async def get_clock(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.json_response({"now": state.now(), "offset": state.clock.offset})


async def clock_to_wall_time(request: web.Request) -> web.Response:
    state = state_of(request)
    state.clock.back_to_wall_time()
    return web.json_response({"now": state.now(), "offset": state.clock.offset})


@handles_errors
async def pay_checkout(request: web.Request) -> web.Response:
    state, body = state_of(request), await body_of(request)
    session = state.store.checkout_sessions.get(request.match_info["id"])
    if session is None:
        raise no_such("checkout_sessions", request.match_info["id"])
    result = flows.complete_checkout(state, session, number=str(body.get("card", "4242424242424242")),
                                     expiry=str(body.get("exp", flows.FAR_EXPIRY)), cvc=str(body.get("cvc", "123")),
                                     name=body.get("name"), email=body.get("email"))
    return web.json_response(result)


@handles_errors
async def fail_charges(request: web.Request) -> web.Response:
    state, body = state_of(request), await body_of(request)
    customer = state.store.customers.get(request.match_info["id"])
    if customer is None:
        raise no_such("customers", request.match_info["id"])
    fail = body.get("fail", True)
    if not isinstance(fail, bool):
        raise refuse("fail must be true or false")
    code = body.get("decline_code", "generic_decline")
    if not isinstance(code, str) or not code:
        raise refuse("decline_code must be a decline code such as generic_decline or insufficient_funds")
    customer["_fail_charges"] = code if fail else None
    return web.json_response({"customer": customer["id"], "fail_charges": customer["_fail_charges"]})


@handles_errors
async def default_configuration(request: web.Request) -> web.Response:
    state, body = state_of(request), await body_of(request)
    configuration = new_configuration(state, Params(from_json(body)), is_default=True)
    for other in state.store.portal_configurations.values():
        if other["id"] != configuration["id"]:
            other["is_default"] = False
    return web.json_response(out(state, "portal_configurations", configuration))


@handles_errors
async def portal_action(request: web.Request) -> web.Response:
    state, body = state_of(request), await body_of(request)
    portal_id, action = request.match_info["id"], request.match_info["action"]
    sub_id = str(body.get("subscription", ""))
    if action == "update":
        sub = flows.portal_switch(state, portal_id, sub_id, str(body.get("price", "")))
    elif action == "cancel":
        sub = flows.portal_cancel(state, portal_id, sub_id)
    elif action == "renew":
        sub = flows.portal_renew(state, portal_id, sub_id)
    else:
        raise refuse("action must be update, cancel or renew")
    return web.json_response(out(state, "subscriptions", sub))


async def hold(request: web.Request) -> web.Response:
    state_of(request).webhooks.hold()
    return web.json_response({"holding": True})


@handles_errors
async def release(request: web.Request) -> web.Response:
    body = await body_of(request)
    order = body.get("order", "sent")
    if order not in ("sent", "reverse"):
        raise refuse('order must be "sent" or "reverse"')
    return web.json_response({"released": state_of(request).webhooks.release(order)})


@handles_errors
async def delay(request: web.Request) -> web.Response:
    body = await body_of(request)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise refuse("seconds must be a number >= 0")
    state_of(request).webhooks.delay_s = float(seconds)
    return web.json_response({"delay_s": float(seconds)})


@handles_errors
async def deliver_again(request: web.Request) -> web.Response:
    state, body = state_of(request), await body_of(request)
    event = state.store.events.get(request.match_info["id"])
    if event is None:
        raise no_such("events", request.match_info["id"])
    wait = body.get("delay", 0)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait < 0:
        raise refuse("delay must be a number of seconds >= 0")
    endpoint = body.get("endpoint")
    queued = state.webhooks.enqueue(event, endpoints=[endpoint] if endpoint else None, duplicate=True,
                                    delay_s=float(wait))
    return web.json_response({"queued": queued})


async def deliveries(request: web.Request) -> web.Response:
    webhooks = state_of(request).webhooks
    return web.json_response({"attempts": webhooks.attempts, "pending": [asdict(d) for d in webhooks.pending],
                              "holding": webhooks.holding, "delay_s": webhooks.delay_s})


async def meter_events(request: web.Request) -> web.Response:
    store = state_of(request).store
    wanted: dict[str, Any] = {k: request.query[k] for k in ("customer", "event_name", "identifier")
                              if k in request.query}
    data = [{k: v for k, v in e.items() if k != "seq"} for e in store.meter_events
            if all(e.get(k) == v for k, v in wanted.items())]
    counts = {identifier: n for identifier, n in store.identifier_submissions.items()
              if "identifier" not in wanted or identifier == wanted["identifier"]}
    return web.json_response({"data": data, "counts": counts})


async def reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    log.warning("Stripe stand-in reset")
    return web.Response(status=204)


ROUTES = [
    ("POST", "/_stripe/clock/advance", advance_clock),
    ("GET", "/_stripe/clock", get_clock),
    ("POST", "/_stripe/clock/wall", clock_to_wall_time),
    ("POST", "/_stripe/checkout/{id}/pay", pay_checkout),
    ("POST", "/_stripe/customers/{id}/fail_charges", fail_charges),
    ("POST", "/_stripe/portal/default_configuration", default_configuration),
    ("POST", "/_stripe/portal/{id}/{action}", portal_action),
    ("POST", "/_stripe/webhooks/hold", hold),
    ("POST", "/_stripe/webhooks/release", release),
    ("POST", "/_stripe/webhooks/delay", delay),
    ("GET", "/_stripe/webhooks/deliveries", deliveries),
    ("POST", "/_stripe/events/{id}/deliver", deliver_again),
    ("GET", "/_stripe/meter_events", meter_events),
    ("POST", "/_stripe/reset", reset),
]
