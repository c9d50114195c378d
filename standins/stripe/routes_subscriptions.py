"""/v1/subscriptions: retrieve, list, update (items with new prices or quantities, proration_behavior,
cancel_at_period_end, metadata, default_payment_method), cancel; /v1/subscription_items: retrieve, list.

Subscriptions are created by Checkout only (subscriptions.create is not implemented)."""

from __future__ import annotations

from aiohttp import web

from . import billing
from .common import get, out, params, path_id, ref, state_of, version
from .errors import invalid, no_such, state_error
from .events import emit, snapshot
from .lists import created_filter, page
from .params import merge_metadata
from .render import list_object, subscription_item

STATUSES = ["active", "all", "canceled", "ended", "incomplete", "incomplete_expired", "past_due", "paused",
            "trialing", "unpaid"]
PRORATIONS = ["create_prorations", "none", "always_invoice"]


async def retrieve(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "subscriptions", get(state, "subscriptions", path_id(request)))


async def list_subscriptions(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    customer, price = p.str("customer"), p.str("price")
    status = p.str("status", choices=STATUSES)
    in_range = created_filter(p)

    def wanted(s: dict) -> bool:
        if status is None:  # Stripe's default: every subscription that is not canceled
            ok = s["status"] != "canceled"
        elif status == "all":
            ok = True
        elif status == "ended":
            ok = s["status"] == "canceled"
        else:
            ok = s["status"] == status
        return (ok and (customer is None or s["customer"] == customer) and in_range(s)
                and (price is None or any(i["price"] == price for i in s["items"])))

    records = [s for s in state.store.newest_first("subscriptions") if wanted(s)]
    body = page(records, p, "/v1/subscriptions", lambda r: out(state, "subscriptions", r), "subscriptions")
    p.done()
    return body


def read_item_changes(state, p, sub: dict) -> list[dict]:
    changes = []
    for index, entry in enumerate(p.list("items")):
        name = f"items[{index}]"
        if isinstance(entry, str):
            raise invalid(name, f"Invalid object: {name} must be a hash.")
        change = {"id": entry.str("id"), "price": entry.str("price"), "quantity": entry.int("quantity", minimum=0),
                  "deleted": bool(entry.bool("deleted")), "metadata": entry.metadata()}
        if change["id"] is not None and not any(i["id"] == change["id"] for i in sub["items"]):
            raise invalid(f"{name}[id]", f"No such subscription_item: '{change['id']}'", code="resource_missing")
        if change["id"] is None and change["price"] is None:
            raise invalid(f"{name}[price]", f"Missing required param: {name}[price].", code="parameter_missing")
        if change["price"] is not None:
            price = ref(state, "prices", change["price"], f"{name}[price]")
            if not price["active"]:
                raise invalid(f"{name}[price]", "The price specified is inactive. This field only accepts active "
                                                "prices.")
            billing.check_items_match(state, [price], f"{name}[price]")
            if price["recurring"]["usage_type"] == "metered" and change["quantity"] is not None:
                raise invalid(f"{name}[quantity]", "Quantity should not be specified where usage_type is `metered`.")
        changes.append(change)
    return changes


def check_result_matches(state, sub: dict, changes: list[dict]) -> None:
    """The prices the subscription will have after the changes share one currency and interval."""
    kept = {i["id"]: i["price"] for i in sub["items"]}
    for change in changes:
        if change["id"] and change["deleted"]:
            kept.pop(change["id"], None)
        elif change["id"] and change["price"]:
            kept[change["id"]] = change["price"]
        elif not change["id"]:
            kept[f"new{len(kept)}"] = change["price"]
    if not kept:
        raise state_error("A subscription must have at least one active plan. To cancel a subscription, please use "
                          "the cancel API endpoint on /v1/subscriptions.", "items")
    billing.check_items_match(state, [state.store.prices[p] for p in kept.values()], "items")


async def update(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    sub = get(state, "subscriptions", path_id(request))
    metadata = p.metadata()
    details = p.sub("cancellation_details")
    comment = details.str("comment", empty_is_none=False) if details and details.has("comment") else None
    feedback = details.str("feedback") if details else None
    if sub["status"] == "canceled":
        if set(p.data) - {"metadata", "cancellation_details", "expand"}:
            raise state_error("A canceled subscription can only update its cancellation_details and metadata.")
    changes = read_item_changes(state, p, sub)
    behavior = p.str("proration_behavior", choices=PRORATIONS) or "create_prorations"
    cancel_flag = p.bool("cancel_at_period_end")
    default_pm = p.str("default_payment_method")
    if default_pm is not None and ref(state, "payment_methods", default_pm, "default_payment_method").get(
            "customer") != sub["customer"]:
        raise no_such("payment_methods", default_pm, param="default_payment_method", status=400)
    p.done()
    if changes:
        check_result_matches(state, sub, changes)
    before = snapshot(state, "subscriptions", sub)
    prorations = billing.change_items(state, sub, changes, behavior) if changes else []
    if cancel_flag is not None and cancel_flag != sub["cancel_at_period_end"]:
        billing.set_cancel_at_period_end(state, sub, cancel_flag, emit_event=False)
    if default_pm is not None:
        sub["default_payment_method"] = default_pm
    sub["metadata"] = merge_metadata(sub["metadata"], metadata)
    if comment is not None:
        sub["cancellation_details"]["comment"] = comment or None
    if feedback is not None:
        sub["cancellation_details"]["feedback"] = feedback
    if snapshot(state, "subscriptions", sub) != before:
        emit(state, "customer.subscription.updated", "subscriptions", sub, before)
    billing.settle_prorations(state, sub, prorations, behavior)
    return out(state, "subscriptions", sub)


async def cancel(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    sub = get(state, "subscriptions", path_id(request))
    invoice_now, prorate = bool(p.bool("invoice_now")), bool(p.bool("prorate"))
    details = p.sub("cancellation_details")
    comment = details.str("comment") if details else None
    feedback = details.str("feedback") if details else None
    p.done()
    if sub["status"] == "canceled":
        raise state_error("This subscription is already canceled.")
    if comment:
        sub["cancellation_details"]["comment"] = comment
    if feedback:
        sub["cancellation_details"]["feedback"] = feedback
    billing.cancel_now(state, sub, invoice_now=invoice_now, prorate=prorate)
    return out(state, "subscriptions", sub)


def find_item(state, item_id: str) -> tuple[dict, dict]:
    for sub in state.store.subscriptions.values():
        for item in sub["items"]:
            if item["id"] == item_id:
                return sub, item
    raise no_such("subscription_items", item_id)


async def retrieve_item(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    sub, item = find_item(state, path_id(request))
    return subscription_item(state, sub, item, version(state))


async def list_items(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    sub = ref(state, "subscriptions", p.str("subscription", required=True), "subscription")
    p.int("limit")
    p.done()
    return list_object([subscription_item(state, sub, i, version(state)) for i in sub["items"]],
                       "/v1/subscription_items")


ROUTES = [
    ("GET", "/v1/subscriptions", list_subscriptions),
    ("GET", "/v1/subscriptions/{id}", retrieve),
    ("POST", "/v1/subscriptions/{id}", update),
    ("DELETE", "/v1/subscriptions/{id}", cancel),
    ("GET", "/v1/subscription_items", list_items),
    ("GET", "/v1/subscription_items/{id}", retrieve_item),
]
