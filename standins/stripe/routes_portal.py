"""/v1/billing_portal/configurations (create, retrieve, list, update) and /v1/billing_portal/sessions
(create: its `url` is the stand-in's portal page, /p/session/{id}).

Which plans a customer may switch between is the configuration's `features[subscription_update][products]`
(each product with the prices offered), as on Stripe. A session without `configuration` uses the account's
default configuration; on Stripe that one is saved in the Dashboard, here with POST
/_stripe/portal/default_configuration (same fields, JSON). Configurations made with the API are never the
default, as on Stripe."""

from __future__ import annotations

from aiohttp import web

from .common import get, out, params, path_id, ref, state_of
from .errors import StripeError, invalid
from .lists import page
from .params import Params, merge_metadata

PRORATIONS = ["none", "create_prorations", "always_invoice"]


def default_features() -> dict:
    return {
        "customer_update": {"allowed_updates": [], "enabled": False},
        "invoice_history": {"enabled": False},
        "payment_method_update": {"enabled": False, "payment_method_configuration": None},
        "subscription_cancel": {"cancellation_reason": {"enabled": False, "options": []}, "enabled": False,
                                "mode": "at_period_end", "proration_behavior": "none"},
        "subscription_update": {"billing_cycle_anchor": None, "default_allowed_updates": [], "enabled": False,
                                "products": [], "proration_behavior": "none",
                                "schedule_at_period_end": {"conditions": []}, "trial_update_behavior": "end_trial"},
    }


def read_features(state, p: Params, features: dict) -> None:
    """Apply `features[...]` to `features` (a configuration's, or the defaults)."""
    update = p.sub("customer_update")
    if update is not None:
        features["customer_update"]["enabled"] = bool(update.bool("enabled"))
        if update.has("allowed_updates"):
            features["customer_update"]["allowed_updates"] = update.strings("allowed_updates")
    for name in ("invoice_history", "payment_method_update"):
        section = p.sub(name)
        if section is not None:
            features[name]["enabled"] = bool(section.bool("enabled"))
    cancel = p.sub("subscription_cancel")
    if cancel is not None:
        target = features["subscription_cancel"]
        target["enabled"] = bool(cancel.bool("enabled"))
        target["mode"] = cancel.str("mode", choices=["at_period_end", "immediately"]) or target["mode"]
        target["proration_behavior"] = (cancel.str("proration_behavior", choices=PRORATIONS)
                                        or target["proration_behavior"])
        reason = cancel.sub("cancellation_reason")
        if reason is not None:
            target["cancellation_reason"] = {"enabled": bool(reason.bool("enabled")),
                                             "options": reason.strings("options")}
    update = p.sub("subscription_update")
    if update is not None:
        target = features["subscription_update"]
        enabled = update.bool("enabled")
        target["enabled"] = bool(enabled) if enabled is not None else target["enabled"]
        if update.has("default_allowed_updates"):
            allowed = update.strings("default_allowed_updates")
            for value in allowed:
                if value not in ("price", "quantity", "promotion_code"):
                    raise invalid("features[subscription_update][default_allowed_updates]",
                                  "Invalid features[subscription_update][default_allowed_updates]: must be one of "
                                  "price, promotion_code, or quantity")
            target["default_allowed_updates"] = allowed
        target["proration_behavior"] = (update.str("proration_behavior", choices=PRORATIONS)
                                        or target["proration_behavior"])
        if update.has("products"):
            products = []
            for index, entry in enumerate(update.list("products")):
                name = f"features[subscription_update][products][{index}]"
                if isinstance(entry, str):
                    raise invalid(name, f"Invalid object: {name} must be a hash.")
                product = ref(state, "products", entry.str("product", required=True), f"{name}[product]")
                prices = entry.strings("prices")
                for price_id in prices:
                    price = ref(state, "prices", price_id, f"{name}[prices]")
                    if price["product"] != product["id"]:
                        raise invalid(f"{name}[prices]", f"The price `{price_id}` does not belong to the product "
                                                         f"`{product['id']}`.")
                products.append({"adjustable_quantity": {"enabled": False, "maximum": 99, "minimum": 1},
                                 "prices": prices, "product": product["id"]})
            target["products"] = products
        if target["enabled"] and "price" in target["default_allowed_updates"] and not target["products"]:
            raise invalid("features[subscription_update][products]",
                          "You must provide at least one product when `price` is an allowed update.")


def new_configuration(state, p: Params, *, is_default: bool) -> dict:
    features = default_features()
    feature_params = p.sub("features", required=True)
    read_features(state, feature_params, features)
    business = p.sub("business_profile")
    profile = {"headline": business.str("headline") if business else None,
               "privacy_policy_url": business.str("privacy_policy_url") if business else None,
               "terms_of_service_url": business.str("terms_of_service_url") if business else None}
    return_url, metadata, name = p.str("default_return_url"), p.metadata() or {}, p.str("name")
    p.done()
    now = state.now()
    return state.store.add("portal_configurations", {
        "id": state.ids.new("bpc_"), "object": "billing_portal.configuration", "active": True,
        "application": None,
        "business_profile": profile, "created": now, "default_return_url": return_url, "features": features,
        "is_default": is_default, "livemode": False, "login_page": {"enabled": False, "url": None},
        "metadata": metadata, "name": name, "updated": now})


async def create_configuration(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    return out(state, "portal_configurations", new_configuration(state, p, is_default=False))


async def retrieve_configuration(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    p.done()
    return out(state, "portal_configurations", get(state, "portal_configurations", path_id(request)))


async def update_configuration(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    configuration = get(state, "portal_configurations", path_id(request))
    features = p.sub("features")
    if features is not None:
        read_features(state, features, configuration["features"])
    if p.has("default_return_url"):
        configuration["default_return_url"] = p.str("default_return_url")
    active = p.bool("active")
    if active is not None:
        configuration["active"] = active
    configuration["metadata"] = merge_metadata(configuration["metadata"], p.metadata())
    if p.has("name"):
        configuration["name"] = p.str("name")
    p.done()
    configuration["updated"] = state.now()
    return out(state, "portal_configurations", configuration)


async def list_configurations(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    active, is_default = p.bool("active"), p.bool("is_default")
    records = [c for c in state.store.newest_first("portal_configurations")
               if (active is None or c["active"] == active) and (is_default is None or c["is_default"] == is_default)]
    body = page(records, p, "/v1/billing_portal/configurations",
                lambda r: out(state, "portal_configurations", r), "portal_configurations")
    p.done()
    return body


NO_DEFAULT = ("No configuration provided and your test mode default configuration has not been created. Provide a "
              "configuration or create your default by saving your customer portal settings in test mode at "
              "https://dashboard.stripe.com/test/settings/billing/portal. (On this Stripe stand-in: POST "
              "/_stripe/portal/default_configuration.)")


async def create_session(request: web.Request) -> dict:
    state, p = state_of(request), params(request)
    customer = ref(state, "customers", p.str("customer", required=True), "customer")
    configuration_id = p.str("configuration")
    return_url, locale = p.str("return_url"), p.str("locale")
    p.done()
    if configuration_id is not None:
        configuration = ref(state, "portal_configurations", configuration_id, "configuration")
        if not configuration["active"]:
            raise invalid("configuration", "The configuration is inactive.")
    else:
        configuration = next((c for c in state.store.portal_configurations.values() if c["is_default"]), None)
        if configuration is None:
            raise StripeError(400, NO_DEFAULT)
    session_id = state.ids.new("bps_")
    session = state.store.add("portal_sessions", {
        "id": session_id, "created": state.now(), "customer": customer["id"], "configuration": configuration["id"],
        "return_url": return_url or configuration.get("default_return_url"), "locale": locale,
        "url": f"{state.base_url()}/p/session/{session_id}"})
    return out(state, "portal_sessions", session)


ROUTES = [
    ("POST", "/v1/billing_portal/configurations", create_configuration),
    ("GET", "/v1/billing_portal/configurations", list_configurations),
    ("GET", "/v1/billing_portal/configurations/{id}", retrieve_configuration),
    ("POST", "/v1/billing_portal/configurations/{id}", update_configuration),
    ("POST", "/v1/billing_portal/sessions", create_session),
]
