"""/v1/invoices: list (customer, subscription, status), retrieve, lines, pay. Invoices are made by
subscriptions only (creation, renewal, proration with always_invoice, final usage).

Each has a `hosted_invoice_url`, the stand-in's page /i/{id}, where an open invoice can be paid with a card.
Since API version 2025-03-31.basil the invoice's subscription is `parent.subscription_details.subscription`
(render.py)."""

from __future__ import annotations

from aiohttp import web

from . import billing
from .common import get, out, params, path_id, ref, state_of, version
from .errors import StripeError, card_error
from .lists import created_filter, page
from .render import invoice as render_invoice
from .render import list_object


async def list_invoices(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    customer, subscription = p.str("customer"), p.str("subscription")
    status = p.str("status", choices=["draft", "open", "paid", "uncollectible", "void"])
    in_range = created_filter(p)
    records = [i for i in state.store.newest_first("invoices")
               if (customer is None or i["customer"] == customer)
               and (subscription is None or i.get("subscription") == subscription)
               and (status is None or i["status"] == status) and in_range(i)]
    body = page(records, p, "/v1/invoices", lambda r: out(state, "invoices", r), "invoices")
    p.done()
    return body


async def retrieve(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "invoices", get(state, "invoices", path_id(request)))


async def lines(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    invoice = get(state, "invoices", path_id(request))
    p.int("limit")
    p.done()
    return list_object(render_invoice(state, invoice, version(state))["lines"]["data"],
                       f"/v1/invoices/{invoice['id']}/lines")


async def pay(request: web.Request) -> dict:
    """Charge an open invoice now, with `payment_method` (one of the customer's cards) or the default one."""
    state, p = state_of(request), params(request)
    invoice = get(state, "invoices", path_id(request))
    pm_id = p.str("payment_method")
    p.done()
    owner = ref(state, "payment_methods", pm_id, "payment_method").get("customer") if pm_id else None
    if pm_id is not None and owner != invoice["customer"]:
        raise StripeError(400, f"The PaymentMethod {pm_id} does not belong to this invoice's customer.",
                          param="payment_method")
    if invoice["status"] == "paid":
        raise StripeError(400, "Invoice is already paid")
    if invoice["status"] != "open":
        raise StripeError(400, f"You can only pay an invoice that is open; this one is {invoice['status']}.")
    decline = billing.pay(state, invoice, pm_id)
    if decline == "no_payment_method":
        raise StripeError(400, "This customer has no attached payment source or default payment method.")
    if decline is not None:
        raise card_error(decline)
    return out(state, "invoices", invoice)


ROUTES = [
    ("GET", "/v1/invoices", list_invoices),
    ("GET", "/v1/invoices/{id}", retrieve),
    ("GET", "/v1/invoices/{id}/lines", lines),
    ("POST", "/v1/invoices/{id}/pay", pay),
]
