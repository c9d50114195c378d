"""/v1/customers: create, retrieve, update, list, delete; /v1/payment_methods/{id} and a customer's cards.

A customer's default card (`invoice_settings.default_payment_method`) is set by Checkout or the hosted
invoice page; update can point it at another of the customer's cards."""

from __future__ import annotations

from aiohttp import web

from . import billing
from .common import get, out, params, path_id, ref, state_of
from .errors import no_such
from .events import emit, snapshot
from .lists import created_filter, page
from .params import merge_metadata


async def create(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    fields = {name: p.str(name) for name in ("email", "name", "description", "phone")}
    metadata = p.metadata() or {}
    p.done()
    return out(state, "customers", billing.new_customer(state, metadata=metadata, **fields))


async def retrieve(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "customers", get(state, "customers", path_id(request)))


def live_customer(request: web.Request) -> dict:
    state = state_of(request)
    customer = get(state, "customers", path_id(request))
    if customer.get("deleted"):
        raise no_such("customers", customer["id"])
    return customer


async def update(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    customer = live_customer(request)
    fields = {name: p.str(name) for name in ("email", "name", "description", "phone") if p.has(name)}
    metadata = p.metadata()
    default_pm = None
    settings = p.sub("invoice_settings")
    if settings is not None:
        default_pm = settings.str("default_payment_method")
        if default_pm is not None:
            pm = ref(state, "payment_methods", default_pm, "invoice_settings[default_payment_method]")
            if pm.get("customer") != customer["id"]:
                raise no_such("payment_methods", default_pm, param="invoice_settings[default_payment_method]",
                              status=400)
    p.done()
    before = snapshot(state, "customers", customer)
    customer.update(fields)
    customer["metadata"] = merge_metadata(customer["metadata"], metadata)
    if default_pm is not None:
        customer["default_payment_method"] = default_pm
    emit(state, "customer.updated", "customers", customer, before)
    return out(state, "customers", customer)


async def delete(request: web.Request) -> dict:
    """As on Stripe, deleting a customer cancels their subscriptions at once."""
    state, p = state_of(request), params(request)
    customer = live_customer(request)
    p.done()
    for sub in list(state.store.subscriptions.values()):
        if sub["customer"] == customer["id"] and sub["status"] in billing.LIVE:
            billing.cancel_now(state, sub, invoice_now=False, prorate=False)
    emit(state, "customer.deleted", "customers", customer)  # the customer as it was, as Stripe sends it
    customer["deleted"] = True
    return {"id": customer["id"], "object": "customer", "deleted": True}


async def list_customers(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    email = p.str("email")
    in_range = created_filter(p)
    records = [c for c in state.store.newest_first("customers")
               if not c.get("deleted") and (email is None or c.get("email") == email) and in_range(c)]
    body = page(records, p, "/v1/customers", lambda r: out(state, "customers", r), "customers")
    p.done()
    return body


async def retrieve_payment_method(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "payment_methods", get(state, "payment_methods", path_id(request)))


async def list_customer_payment_methods(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    customer = live_customer(request)
    p.str("type", choices=["card"])
    records = [m for m in state.store.newest_first("payment_methods") if m.get("customer") == customer["id"]]
    body = page(records, p, f"/v1/customers/{customer['id']}/payment_methods",
                lambda r: out(state, "payment_methods", r), "payment_methods")
    p.done()
    return body


ROUTES = [
    ("POST", "/v1/customers", create),
    ("GET", "/v1/customers", list_customers),
    ("GET", "/v1/customers/{id}", retrieve),
    ("POST", "/v1/customers/{id}", update),
    ("DELETE", "/v1/customers/{id}", delete),
    ("GET", "/v1/customers/{id}/payment_methods", list_customer_payment_methods),
    ("GET", "/v1/payment_methods/{id}", retrieve_payment_method),
]
