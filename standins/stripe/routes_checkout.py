"""/v1/checkout/sessions in `subscription` mode: create (its `url` is the stand-in's hosted checkout page,
/c/pay/{id}), retrieve (`expand[]=subscription`, `line_items`), list, line_items, expire.

A session is paid on its page (pages.py) or with POST /_stripe/checkout/{id}/pay (control.py); both go
through flows.complete_checkout."""

from __future__ import annotations

from aiohttp import web

from . import billing
from .common import get, out, params, path_id, ref, state_of, version
from .context import current
from .errors import StripeError, invalid
from .events import emit
from .lists import page
from .params import expand_paths
from .render import checkout_line_items

DAY = 86400


def read_line_items(state, p) -> list[dict]:
    entries = p.list("line_items", required=True)
    prices, out_items = [], []
    for index, entry in enumerate(entries):
        name = f"line_items[{index}]"
        if isinstance(entry, str):
            raise invalid(name, f"Invalid object: {name} must be a hash.")
        price = ref(state, "prices", entry.str("price", required=True), f"{name}[price]")
        quantity = entry.int("quantity", minimum=1)
        if not price["active"]:
            raise invalid(f"{name}[price]", "The price specified is inactive. This field only accepts active prices.")
        if price.get("recurring") and price["recurring"]["usage_type"] == "metered":
            if quantity is not None:
                raise invalid(f"{name}[quantity]", f"Quantity should not be specified where usage_type is `metered`. "
                                                   f"Remove quantity from `{name}`.")
        elif quantity is None:
            raise invalid(f"{name}[quantity]", f"Quantity is required. Add `quantity` to `{name}`.")
        prices.append(price)
        out_items.append({"id": state.ids.new("li_"), "price": price["id"], "quantity": quantity})
    billing.check_items_match(state, prices, "line_items")
    return out_items


async def create(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    mode = p.str("mode", required=True, choices=["payment", "setup", "subscription"])
    if mode != "subscription":
        raise invalid("mode", "This Stripe stand-in implements Checkout in `subscription` mode only.")
    customer_id, customer_email = p.str("customer"), p.str("customer_email")
    if customer_id and customer_email:
        raise invalid("customer_email", "You may only specify one of these parameters: customer, customer_email.")
    customer = ref(state, "customers", customer_id, "customer") if customer_id else None
    line_items = read_line_items(state, p)
    methods = p.strings("payment_method_types")
    if methods and methods != ["card"]:
        raise invalid("payment_method_types", "This Stripe stand-in takes cards only.")
    success_url, cancel_url = p.str("success_url"), p.str("cancel_url")
    reference = p.str("client_reference_id")
    if reference is not None and len(reference) > 200:
        raise invalid("client_reference_id", "client_reference_id must be at most 200 characters.")
    metadata = p.metadata() or {}
    sub_data = p.sub("subscription_data")
    sub_metadata = (sub_data.metadata() or {}) if sub_data is not None else {}
    now = state.now()
    expires_at = p.int("expires_at")
    if expires_at is not None and not now + 1800 <= expires_at <= now + DAY:
        raise invalid("expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                                    "Checkout Session creation.")
    p.done()
    total = sum(state.store.prices[i["price"]]["unit_amount"] * i["quantity"]
                for i in line_items if i["quantity"] is not None)
    session_id = state.ids.new("cs_test_")
    session = state.store.add("checkout_sessions", {
        "id": session_id, "created": now, "expires_at": expires_at or now + DAY, "mode": mode, "status": "open",
        "payment_status": "unpaid", "customer": customer["id"] if customer else None,
        "customer_email": customer_email, "line_items": line_items, "amount_subtotal": total, "amount_total": total,
        "currency": state.store.prices[line_items[0]["price"]]["currency"], "success_url": success_url,
        "cancel_url": cancel_url, "client_reference_id": reference, "metadata": metadata,
        "subscription_metadata": sub_metadata, "subscription": None, "invoice": None, "customer_details": None,
        "url": f"{state.base_url()}/c/pay/{session_id}"})
    return with_line_items(request, out(state, "checkout_sessions", session), session)


def with_line_items(request: web.Request, body: dict, session: dict) -> dict:
    """`line_items` is not part of a session unless expanded."""
    if "line_items" in expand_paths(current().params):
        state = state_of(request)
        body["line_items"] = checkout_line_items(state, session, version(state))
    return body


async def retrieve(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    session = get(state, "checkout_sessions", path_id(request))
    return with_line_items(request, out(state, "checkout_sessions", session), session)


async def line_items(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    session = get(state, "checkout_sessions", path_id(request))
    body = checkout_line_items(state, session, version(state))
    p.int("limit")
    p.done()
    return body


async def list_sessions(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    customer, subscription = p.str("customer"), p.str("subscription")
    status = p.str("status", choices=["open", "complete", "expired"])
    records = [s for s in state.store.newest_first("checkout_sessions")
               if (customer is None or s.get("customer") == customer)
               and (subscription is None or s.get("subscription") == subscription)
               and (status is None or s["status"] == status)]
    body = page(records, p, "/v1/checkout/sessions", lambda r: out(state, "checkout_sessions", r),
                "checkout_sessions")
    p.done()
    return body


async def expire(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    session = get(state, "checkout_sessions", path_id(request))
    p.done()
    if session["status"] != "open":
        raise StripeError(400, 'Only Checkout Sessions with a status in ["open"] can be expired.')
    session["status"] = "expired"
    emit(state, "checkout.session.expired", "checkout_sessions", session)
    return out(state, "checkout_sessions", session)


ROUTES = [
    ("POST", "/v1/checkout/sessions", create),
    ("GET", "/v1/checkout/sessions", list_sessions),
    ("GET", "/v1/checkout/sessions/{id}", retrieve),
    ("GET", "/v1/checkout/sessions/{id}/line_items", line_items),
    ("POST", "/v1/checkout/sessions/{id}/expire", expire),
]
