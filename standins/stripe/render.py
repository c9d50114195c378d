"""The stand-in's records as Stripe's objects, in the shape of the API version asked for.

Stripe changes shapes between API versions; the changes that matter to billing code are rendered per
version so code written against the stand-in reads the same fields it will get from real Stripe:

- 2025-03-31.basil moved `current_period_start/end` from the subscription to its items, the invoice's
  `subscription` to `parent.subscription_details.subscription`, and a line's `price` to
  `pricing.price_details.price`; it removed the invoice's `paid` boolean (use `status == "paid"`).
  Requests with an older Stripe-Version get the old fields as well.

Every id-valued field is a plain id; `expand` (lists.py) replaces them with these renderings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import StripeState

BASIL = "2025-03-31"


def legacy(version: str) -> bool:
    """An API version before basil, which still has the pre-2025 billing fields."""
    return version[:10] < BASIL


def list_object(data: list[dict], url: str, *, has_more: bool = False, total_count: int | None = None) -> dict:
    body: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more, "url": url}
    if total_count is not None:
        body["total_count"] = total_count
    return body


def customer(state: StripeState, r: dict, version: str) -> dict:
    if r.get("deleted"):
        return {"id": r["id"], "object": "customer", "deleted": True}
    return {
        "id": r["id"], "object": "customer", "address": None, "balance": r["balance"], "created": r["created"],
        "currency": r.get("currency"), "default_source": None, "delinquent": r["delinquent"],
        "description": r.get("description"), "discount": None, "email": r.get("email"),
        "invoice_prefix": r["invoice_prefix"],
        "invoice_settings": {"custom_fields": None, "default_payment_method": r.get("default_payment_method"),
                             "footer": None, "rendering_options": None},
        "livemode": False, "metadata": r["metadata"], "name": r.get("name"),
        "next_invoice_sequence": r["next_invoice_sequence"], "phone": r.get("phone"), "preferred_locales": [],
        "shipping": None, "tax_exempt": "none", "test_clock": None,
    }


def product(state: StripeState, r: dict, version: str) -> dict:
    return {
        "id": r["id"], "object": "product", "active": r["active"], "created": r["created"],
        "default_price": r.get("default_price"), "description": r.get("description"), "images": [],
        "livemode": False, "marketing_features": [], "metadata": r["metadata"], "name": r["name"],
        "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
        "type": "service", "unit_label": r.get("unit_label"), "updated": r["updated"], "url": None,
    }


def price(state: StripeState, r: dict, version: str) -> dict:
    recurring = None
    if r.get("recurring"):
        recurring = {"interval": r["recurring"]["interval"], "interval_count": r["recurring"]["interval_count"],
                     "meter": r["recurring"].get("meter"), "trial_period_days": None,
                     "usage_type": r["recurring"]["usage_type"]}
        if legacy(version):
            recurring["aggregate_usage"] = "sum" if recurring["usage_type"] == "metered" else None
    return {
        "id": r["id"], "object": "price", "active": r["active"], "billing_scheme": "per_unit",
        "created": r["created"], "currency": r["currency"], "custom_unit_amount": None, "livemode": False,
        "lookup_key": r.get("lookup_key"), "metadata": r["metadata"], "nickname": r.get("nickname"),
        "product": r["product"], "recurring": recurring, "tax_behavior": "unspecified", "tiers_mode": None,
        "transform_quantity": None, "type": "recurring" if recurring else "one_time",
        "unit_amount": r["unit_amount"], "unit_amount_decimal": str(r["unit_amount"]),
    }


def plan(state: StripeState, r: dict) -> dict:
    """The legacy Plan view of a recurring price, which subscription items still carry."""
    recurring = r["recurring"]
    return {
        "id": r["id"], "object": "plan", "active": r["active"], "amount": r["unit_amount"],
        "amount_decimal": str(r["unit_amount"]), "billing_scheme": "per_unit", "created": r["created"],
        "currency": r["currency"], "interval": recurring["interval"], "interval_count": recurring["interval_count"],
        "livemode": False, "metadata": r["metadata"], "meter": recurring.get("meter"), "nickname": r.get("nickname"),
        "product": r["product"], "tiers_mode": None, "transform_usage": None, "trial_period_days": None,
        "usage_type": recurring["usage_type"],
    }


def payment_method(state: StripeState, r: dict, version: str) -> dict:
    card = r["card"]
    return {
        "id": r["id"], "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                        "postal_code": None, "state": None},
                            "email": r.get("email"), "name": r.get("name"), "phone": None, "tax_id": None},
        "card": {"brand": card["brand"], "checks": {"address_line1_check": None, "address_postal_code_check": None,
                                                     "cvc_check": "pass"},
                 "country": "US", "display_brand": card["brand"], "exp_month": card["exp_month"],
                 "exp_year": card["exp_year"], "fingerprint": card["fingerprint"], "funding": card["funding"],
                 "generated_from": None, "last4": card["last4"],
                 "networks": {"available": [card["brand"]], "preferred": None},
                 "three_d_secure_usage": {"supported": True}, "wallet": None},
        "created": r["created"], "customer": r.get("customer"), "livemode": False, "metadata": r["metadata"],
        "type": "card",
    }


def subscription_item(state: StripeState, sub: dict, item: dict, version: str) -> dict:
    price_record = state.store.prices[item["price"]]
    body = {
        "id": item["id"], "object": "subscription_item", "billing_thresholds": None, "created": item["created"],
        "current_period_end": sub["current_period_end"], "current_period_start": sub["current_period_start"],
        "discounts": [], "metadata": item["metadata"], "plan": plan(state, price_record),
        "price": price(state, price_record, version), "subscription": sub["id"], "tax_rates": [],
    }
    if price_record["recurring"]["usage_type"] == "licensed":
        body["quantity"] = item["quantity"]
    return body


def subscription(state: StripeState, r: dict, version: str) -> dict:
    items = [subscription_item(state, r, item, version) for item in r["items"]]
    body = {
        "id": r["id"], "object": "subscription", "application": None, "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": r["billing_cycle_anchor"], "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"}, "billing_thresholds": None, "cancel_at": r.get("cancel_at"),
        "cancel_at_period_end": r["cancel_at_period_end"], "canceled_at": r.get("canceled_at"),
        "cancellation_details": r["cancellation_details"], "collection_method": "charge_automatically",
        "created": r["created"], "currency": r["currency"], "customer": r["customer"], "days_until_due": None,
        "default_payment_method": r.get("default_payment_method"), "default_source": None, "default_tax_rates": [],
        "description": None, "discounts": [], "ended_at": r.get("ended_at"),
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": list_object(items, f"/v1/subscription_items?subscription={r['id']}", total_count=len(items)),
        "latest_invoice": r.get("latest_invoice"), "livemode": False, "metadata": r["metadata"],
        "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
        "schedule": None, "start_date": r["start_date"], "status": r["status"], "test_clock": None,
        "transfer_data": None, "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}}, "trial_start": None,
    }
    if legacy(version):
        body["current_period_start"] = r["current_period_start"]
        body["current_period_end"] = r["current_period_end"]
        single = len(items) == 1
        body["plan"] = items[0]["plan"] if single else None
        body["quantity"] = items[0].get("quantity") if single else None
    return body


def invoice_line(state: StripeState, inv: dict, line: dict, version: str) -> dict:
    price_record = state.store.prices.get(line["price"]) if line.get("price") else None
    if line.get("invoice_item"):
        parent = {"type": "invoice_item_details", "subscription_item_details": None,
                  "invoice_item_details": {"invoice_item": line["invoice_item"], "proration": line["proration"],
                                           "proration_details": {"credited_items": None},
                                           "subscription": line.get("subscription")}}
    else:
        parent = {"type": "subscription_item_details", "invoice_item_details": None,
                  "subscription_item_details": {"invoice_item": None, "proration": line["proration"],
                                                "proration_details": {"credited_items": None},
                                                "subscription": line.get("subscription"),
                                                "subscription_item": line.get("subscription_item")}}
    body = {
        "id": line["id"], "object": "line_item", "amount": line["amount"], "currency": inv["currency"],
        "description": line["description"], "discount_amounts": [], "discountable": True, "discounts": [],
        "invoice": inv["id"], "livemode": False, "metadata": {}, "parent": parent,
        "period": {"end": line["period"]["end"], "start": line["period"]["start"]}, "pretax_credit_amounts": [],
        "pricing": {"price_details": {"price": line.get("price"),
                                      "product": price_record["product"] if price_record else None},
                    "type": "price_details",
                    "unit_amount_decimal": str(price_record["unit_amount"]) if price_record else None},
        "quantity": line.get("quantity"), "subscription": line.get("subscription"), "taxes": [],
    }
    if legacy(version):
        body["price"] = price(state, price_record, version) if price_record else None
        body["plan"] = plan(state, price_record) if price_record and price_record.get("recurring") else None
        body["proration"] = line["proration"]
        body["type"] = "invoiceitem" if line.get("invoice_item") else "subscription"
        body["subscription_item"] = line.get("subscription_item")
        body["invoice_item"] = line.get("invoice_item")
    return body


def invoice(state: StripeState, r: dict, version: str) -> dict:
    lines = [invoice_line(state, r, line, version) for line in r["lines"]]
    parent = None
    if r.get("subscription"):
        parent = {"type": "subscription_details", "quote_details": None,
                  "subscription_details": {"metadata": r.get("subscription_metadata") or {},
                                           "subscription": r["subscription"]}}
    paid_at = r["status_transitions"].get("paid_at")
    body = {
        "id": r["id"], "object": "invoice", "account_country": "US", "account_name": "Stripe stand-in (test)",
        "account_tax_ids": None, "amount_due": r["amount_due"], "amount_overpaid": 0,
        "amount_paid": r["amount_paid"], "amount_remaining": r["amount_due"] - r["amount_paid"],
        "amount_shipping": 0, "application": None, "attempt_count": r["attempt_count"],
        "attempted": r["attempted"], "auto_advance": r["status"] not in ("paid", "void", "uncollectible"),
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None,
                          "status": None},
        "automatically_finalizes_at": None, "billing_reason": r["billing_reason"],
        "collection_method": "charge_automatically", "confirmation_secret": None, "created": r["created"],
        "currency": r["currency"], "custom_fields": None, "customer": r["customer"], "customer_address": None,
        "customer_email": r.get("customer_email"), "customer_name": r.get("customer_name"), "customer_phone": None,
        "customer_shipping": None, "customer_tax_exempt": "none", "customer_tax_ids": [],
        "default_payment_method": None, "default_source": None, "default_tax_rates": [], "description": None,
        "discounts": [], "due_date": None, "effective_at": r["status_transitions"].get("finalized_at"),
        "ending_balance": r.get("ending_balance"), "footer": None, "from_invoice": None,
        "hosted_invoice_url": r["hosted_invoice_url"] if r["status"] != "draft" else None, "invoice_pdf": None,
        "issuer": {"type": "self"}, "last_finalization_error": None, "latest_revision": None,
        "lines": list_object(lines, f"/v1/invoices/{r['id']}/lines", total_count=len(lines)),
        "livemode": False, "metadata": r["metadata"], "next_payment_attempt": r.get("next_payment_attempt"),
        "number": r.get("number"), "on_behalf_of": None, "parent": parent,
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": r["period_end"], "period_start": r["period_start"],
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0, "receipt_number": None,
        "rendering": None, "shipping_cost": None, "shipping_details": None,
        "starting_balance": r["starting_balance"], "statement_descriptor": None, "status": r["status"],
        "status_transitions": {"finalized_at": r["status_transitions"].get("finalized_at"),
                               "marked_uncollectible_at": None, "paid_at": paid_at, "voided_at": None},
        "subtotal": r["subtotal"], "subtotal_excluding_tax": r["subtotal"], "test_clock": None,
        "total": r["total"], "total_discount_amounts": [], "total_excluding_tax": r["total"],
        "total_pretax_credit_amounts": [], "total_taxes": [],
        "webhooks_delivered_at": r["created"],
    }
    if legacy(version):
        body["subscription"] = r.get("subscription")
        body["paid"] = r["status"] == "paid"
        body["charge"] = None
        body["payment_intent"] = None
        body["subscription_details"] = {"metadata": r.get("subscription_metadata") or {}}
    return body


def checkout_session(state: StripeState, r: dict, version: str) -> dict:
    return {
        "id": r["id"], "object": "checkout.session", "adaptive_pricing": {"enabled": False},
        "after_expiration": None, "allow_promotion_codes": None, "amount_subtotal": r["amount_subtotal"],
        "amount_total": r["amount_total"],
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None, "cancel_url": r.get("cancel_url"),
        "client_reference_id": r.get("client_reference_id"), "client_secret": None,
        "collected_information": None, "consent": None, "consent_collection": None, "created": r["created"],
        "currency": r["currency"], "currency_conversion": None, "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": r.get("customer"), "customer_creation": None,  # a payment/setup mode setting
        "customer_details": r.get("customer_details"), "customer_email": r.get("customer_email"),
        "discounts": [], "expires_at": r["expires_at"], "invoice": r.get("invoice"), "invoice_creation": None,
        "livemode": False, "locale": None, "metadata": r["metadata"], "mode": r["mode"], "payment_intent": None,
        "payment_link": None, "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"], "payment_status": r["payment_status"],
        "phone_number_collection": {"enabled": False}, "recovered_from": None,
        "saved_payment_method_options": None, "setup_intent": None, "shipping_address_collection": None,
        "shipping_cost": None, "shipping_options": [], "status": r["status"], "submit_type": None,
        "subscription": r.get("subscription"), "success_url": r.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, "ui_mode": "hosted",
        # Stripe stops handing out the page once the session is over.
        "url": r["url"] if r["status"] == "open" else None,
    }


def checkout_line_items(state: StripeState, r: dict, version: str) -> dict:
    data = []
    for line in r["line_items"]:
        price_record = state.store.prices[line["price"]]
        quantity = line.get("quantity")
        amount = price_record["unit_amount"] * quantity if quantity is not None else 0
        data.append({"id": line["id"], "object": "item", "amount_discount": 0, "amount_subtotal": amount,
                     "amount_tax": 0, "amount_total": amount, "currency": price_record["currency"],
                     "description": state.store.products[price_record["product"]]["name"],
                     "price": price(state, price_record, version), "quantity": quantity})
    return list_object(data, f"/v1/checkout/sessions/{r['id']}/line_items")


def portal_configuration(state: StripeState, r: dict, version: str) -> dict:
    return {key: value for key, value in r.items() if not key.startswith("_")}


def portal_session(state: StripeState, r: dict, version: str) -> dict:
    return {"id": r["id"], "object": "billing_portal.session", "configuration": r["configuration"],
            "created": r["created"], "customer": r["customer"], "flow": None, "livemode": False,
            "locale": r.get("locale"), "on_behalf_of": None, "return_url": r.get("return_url"), "url": r["url"]}


def meter(state: StripeState, r: dict, version: str) -> dict:
    return {key: value for key, value in r.items() if not key.startswith("_")} | {
        "object": "billing.meter", "livemode": False}


def webhook_endpoint(state: StripeState, r: dict, version: str, *, with_secret: bool = False) -> dict:
    body = {"id": r["id"], "object": "webhook_endpoint", "api_version": r.get("api_version"),
            "application": None, "created": r["created"], "description": r.get("description"),
            "enabled_events": r["enabled_events"], "livemode": False, "metadata": r["metadata"],
            "status": r["status"], "url": r["url"]}
    if with_secret:  # Stripe shows the secret only in the answer to create
        body["secret"] = r["secret"]
    return body


def event(state: StripeState, r: dict, version: str) -> dict:
    return {key: value for key, value in r.items() if not key.startswith("_")}


RENDERERS = {
    "customers": customer, "products": product, "prices": price, "payment_methods": payment_method,
    "checkout_sessions": checkout_session, "portal_configurations": portal_configuration,
    "portal_sessions": portal_session, "subscriptions": subscription, "invoices": invoice, "meters": meter,
    "webhook_endpoints": webhook_endpoint, "events": event,
}


def render(state: StripeState, table: str, record: dict, version: str) -> dict:
    return RENDERERS[table](state, record, version)
