"""/v1/products and /v1/prices: what is sold. Prices are one-time or recurring; a recurring price is
licensed (billed per quantity, in advance) or metered (billed on a billing meter's usage, in arrears: since
API version 2025-03-31.basil a metered price needs `recurring[meter]`). A `lookup_key` names at most one
price; `transfer_lookup_key=true` moves it from the price that had it."""

from __future__ import annotations

import re

from aiohttp import web

from .common import get, out, params, path_id, ref, state_of
from .errors import invalid, missing_param
from .events import emit, snapshot
from .lists import created_filter, page
from .params import Params, merge_metadata

INTERVALS = ["day", "week", "month", "year"]


# --- products
def new_product(state, name: str, *, product_id: str | None = None, description: str | None = None,
                metadata: dict | None = None, active: bool = True, unit_label: str | None = None) -> dict:
    now = state.now()
    product = state.store.add("products", {
        "id": product_id or state.ids.new("prod_"), "created": now, "updated": now, "name": name,
        "description": description, "metadata": metadata or {}, "active": active, "default_price": None,
        "unit_label": unit_label})
    emit(state, "product.created", "products", product)
    return product


async def create_product(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    product_id = p.str("id")
    name = p.str("name", required=True)
    fields = dict(description=p.str("description"), metadata=p.metadata() or {}, unit_label=p.str("unit_label"))
    active = p.bool("active")
    p.done()
    if product_id is not None and product_id in state.store.products:
        raise invalid("id", "Product already exists.", code="resource_already_exists")
    return out(state, "products", new_product(state, name, product_id=product_id,
                                              active=True if active is None else active, **fields))


async def retrieve_product(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "products", get(state, "products", path_id(request)))


async def update_product(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    product = get(state, "products", path_id(request))
    fields = {k: p.str(k) for k in ("name", "description", "unit_label") if p.has(k)}
    active, metadata, default_price = p.bool("active"), p.metadata(), p.str("default_price")
    p.done()
    if default_price is not None and ref(state, "prices", default_price, "default_price")["product"] != product["id"]:
        raise invalid("default_price", "The default price must belong to this product.")
    before = snapshot(state, "products", product)
    product.update(fields)
    if active is not None:
        product["active"] = active
    if default_price is not None:
        product["default_price"] = default_price
    product["metadata"] = merge_metadata(product["metadata"], metadata)
    product["updated"] = state.now()
    emit(state, "product.updated", "products", product, before)
    return out(state, "products", product)


async def list_products(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    active, ids, in_range = p.bool("active"), p.strings("ids"), created_filter(p)
    records = [r for r in state.store.newest_first("products")
               if (active is None or r["active"] == active) and (not ids or r["id"] in ids) and in_range(r)]
    body = page(records, p, "/v1/products", lambda r: out(state, "products", r), "products")
    p.done()
    return body


# --- prices
def read_recurring(state, p: Params) -> dict | None:
    recurring = p.sub("recurring")
    if recurring is None:
        return None
    interval = recurring.str("interval", required=True, choices=INTERVALS)
    count = recurring.int("interval_count", minimum=1) or 1
    usage_type = recurring.str("usage_type", choices=["licensed", "metered"]) or "licensed"
    meter = recurring.str("meter")
    if usage_type == "metered" and meter is None:
        raise invalid("recurring[meter]", "A meter is required for a price with `recurring[usage_type]=metered`.")
    if usage_type == "licensed" and meter is not None:
        raise invalid("recurring[meter]", "`recurring[meter]` can only be set when `recurring[usage_type]` is "
                                          "`metered`.")
    if meter is not None:
        found = ref(state, "meters", meter, "recurring[meter]")
        if found["status"] != "active":
            raise invalid("recurring[meter]", f"The meter '{meter}' is inactive.")
    return {"interval": interval, "interval_count": count, "usage_type": usage_type, "meter": meter}


def amount_of(p: Params) -> int:
    amount = p.int("unit_amount", minimum=0)
    decimal = p.str("unit_amount_decimal")
    if amount is None and decimal is not None:
        if not re.fullmatch(r"\d+", decimal):  # fractions of a cent are not implemented
            raise invalid("unit_amount_decimal", "This Stripe stand-in supports whole unit_amount_decimal values "
                                                 "only.")
        amount = int(decimal)
    if amount is None:
        raise missing_param("unit_amount")
    return amount


def claim_lookup_key(state, lookup_key: str | None, transfer: bool, price_id: str | None = None) -> None:
    if lookup_key is None:
        return
    for other in state.store.prices.values():
        if other.get("lookup_key") == lookup_key and other["id"] != price_id:
            if not transfer:
                raise invalid("lookup_key", f"A price (`{other['id']}`) already uses that lookup key.")
            before = snapshot(state, "prices", other)
            other["lookup_key"] = None
            emit(state, "price.updated", "prices", other, before)


async def create_price(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    currency = p.str("currency", required=True)
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise invalid("currency", f"Invalid currency: {currency}. Stripe currencies are three lowercase letters.")
    amount = amount_of(p)
    product_id = p.str("product")
    product_data = p.sub("product_data")
    product_name = product_data.str("name", required=True) if product_data is not None else None
    if product_id is None and product_data is None:
        raise missing_param("product")
    if product_id is not None:
        ref(state, "products", product_id, "product")
    recurring = read_recurring(state, p)
    p.str("billing_scheme", choices=["per_unit"])
    lookup_key, transfer = p.str("lookup_key"), bool(p.bool("transfer_lookup_key"))
    nickname, metadata, active = p.str("nickname"), p.metadata() or {}, p.bool("active")
    p.done()
    claim_lookup_key(state, lookup_key, transfer)
    if product_id is None:
        product_id = new_product(state, product_name)["id"]
    price = state.store.add("prices", {
        "id": state.ids.new("price_"), "created": state.now(), "product": product_id, "currency": currency,
        "unit_amount": amount, "recurring": recurring, "lookup_key": lookup_key, "nickname": nickname,
        "metadata": metadata, "active": True if active is None else active})
    emit(state, "price.created", "prices", price)
    return out(state, "prices", price)


async def retrieve_price(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "prices", get(state, "prices", path_id(request)))


async def update_price(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    price = get(state, "prices", path_id(request))
    active, metadata, nickname = p.bool("active"), p.metadata(), p.str("nickname")
    lookup_key = p.str("lookup_key", empty_is_none=False) if p.has("lookup_key") else None
    transfer = bool(p.bool("transfer_lookup_key"))
    p.done()
    before = snapshot(state, "prices", price)
    if lookup_key is not None:
        claim_lookup_key(state, lookup_key or None, transfer, price["id"])
        price["lookup_key"] = lookup_key or None
    if active is not None:
        price["active"] = active
    if nickname is not None:
        price["nickname"] = nickname
    price["metadata"] = merge_metadata(price["metadata"], metadata)
    emit(state, "price.updated", "prices", price, before)
    return out(state, "prices", price)


async def list_prices(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    active, currency, product = p.bool("active"), p.str("currency"), p.str("product")
    kind = p.str("type", choices=["one_time", "recurring"])
    lookup_keys = p.strings("lookup_keys")
    if len(lookup_keys) > 10:
        raise invalid("lookup_keys", "You can pass at most 10 lookup keys.")
    recurring = p.sub("recurring")
    interval = recurring.str("interval", choices=INTERVALS) if recurring else None
    usage_type = recurring.str("usage_type", choices=["licensed", "metered"]) if recurring else None
    meter = recurring.str("meter") if recurring else None
    in_range = created_filter(p)

    def wanted(r: dict) -> bool:
        rec = r.get("recurring") or {}
        return ((active is None or r["active"] == active) and (currency is None or r["currency"] == currency)
                and (product is None or r["product"] == product)
                and (kind is None or (kind == "recurring") == bool(r.get("recurring")))
                and (not lookup_keys or r.get("lookup_key") in lookup_keys)
                and (interval is None or rec.get("interval") == interval)
                and (usage_type is None or rec.get("usage_type") == usage_type)
                and (meter is None or rec.get("meter") == meter) and in_range(r))

    records = [r for r in state.store.newest_first("prices") if wanted(r)]
    body = page(records, p, "/v1/prices", lambda r: out(state, "prices", r), "prices")
    p.done()
    return body


ROUTES = [
    ("POST", "/v1/products", create_product),
    ("GET", "/v1/products", list_products),
    ("GET", "/v1/products/{id}", retrieve_product),
    ("POST", "/v1/products/{id}", update_product),
    ("POST", "/v1/prices", create_price),
    ("GET", "/v1/prices", list_prices),
    ("GET", "/v1/prices/{id}", retrieve_price),
    ("POST", "/v1/prices/{id}", update_price),
]
