"""What a customer does on the hosted pages, shared by the pages (a browser) and the /_stripe/ controls (a
test without one): pay a Checkout Session, switch plan / cancel / renew on the portal, pay an open invoice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import billing, cards
from .errors import StripeError, card_error, no_such, state_error
from .events import emit, snapshot

if TYPE_CHECKING:
    from .state import StripeState

FAR_EXPIRY = "12/99"


# --- Checkout
def complete_checkout(state: StripeState, session: dict, *, number: str, expiry: str = FAR_EXPIRY,
                      cvc: str = "123", name: str | None = None, email: str | None = None) -> dict:
    """Pay the session with this card. A declined card raises the card_error and leaves nothing behind (no
    customer, card, subscription, invoice or event); a paying one completes the session: customer (made from
    the email if the session named none), the card as their default, an active subscription, its first
    invoice paid, then checkout.session.completed."""
    if session["status"] == "complete":
        raise state_error("This Checkout Session is already complete.")
    if session["status"] != "open":
        raise state_error("This Checkout Session is no longer active: it has expired.")
    typed = cards.check(number, expiry, cvc, state.now())
    if typed.card.attach_decline:
        raise card_error(typed.card.attach_decline)
    customer = state.store.customers.get(session["customer"]) if session.get("customer") else None
    if session["amount_total"] > 0:
        decline = (customer or {}).get("_fail_charges") or typed.card.charge_decline
        if decline:
            raise card_error(decline)
    email = email or session.get("customer_email") or (customer or {}).get("email")
    if not email:
        raise state_error("An email address is required.", "email")
    if customer is None:
        customer = billing.new_customer(state, email=email, name=name)
    pm = billing.attach_card(state, customer, typed, name=name, email=email)
    items = [(state.store.prices[entry["price"]], entry.get("quantity")) for entry in session["line_items"]]
    sub, invoice = billing.create_subscription(state, customer, items, dict(session["subscription_metadata"]),
                                               pm["id"])
    billing.pay(state, invoice, pm["id"])
    session.update(status="complete", customer=customer["id"], subscription=sub["id"], invoice=invoice["id"],
                   payment_status="paid" if session["amount_total"] > 0 else "no_payment_required",
                   customer_details={"address": None, "email": email, "name": name, "phone": None,
                                     "tax_exempt": "none", "tax_ids": []})
    emit(state, "checkout.session.completed", "checkout_sessions", session)
    return {"session": session["id"], "customer": customer["id"], "subscription": sub["id"],
            "invoice": invoice["id"], "redirect_url": success_redirect(state, session)}


def success_redirect(state: StripeState, session: dict) -> str:
    if session.get("success_url"):
        # Stripe fills in this one template variable.
        return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
    return f"{state.base_url()}/c/pay/{session['id']}"


# --- Customer portal
def portal_parts(state: StripeState, portal_session_id: str) -> tuple[dict, dict, dict]:
    """(portal session, its configuration, its customer)."""
    portal = state.store.portal_sessions.get(portal_session_id)
    if portal is None:
        raise no_such("portal_sessions", portal_session_id)
    return (portal, state.store.portal_configurations[portal["configuration"]],
            state.store.customers[portal["customer"]])


def customer_subscription(state: StripeState, customer: dict, sub_id: str) -> dict:
    sub = state.store.subscriptions.get(sub_id)
    if sub is None or sub["customer"] != customer["id"]:
        raise no_such("subscriptions", sub_id, param="subscription", status=400)
    return sub


def plan_options(state: StripeState, configuration: dict, sub: dict) -> tuple[list[dict], str | None]:
    """The prices the portal offers to switch this subscription to, or why it offers none.

    As on Stripe, the portal changes only a subscription of one licensed item whose product the
    configuration lists (`features.subscription_update.products`); it offers that list's active prices with
    the same currency and interval. Other subscriptions can only be canceled there."""
    update = configuration["features"]["subscription_update"]
    if not update["enabled"] or "price" not in update["default_allowed_updates"]:
        return [], "This portal configuration does not allow plan changes."
    if sub["status"] != "active":
        return [], "Only an active subscription can change plan."
    if len(sub["items"]) != 1:
        return [], "A subscription with several items can only be canceled here."
    current = state.store.prices[sub["items"][0]["price"]]
    if not billing.licensed(current):
        return [], "A usage-based price can only be canceled here."
    listed = {entry["product"]: entry["prices"] for entry in update["products"]}
    if current["product"] not in listed:
        return [], "This plan is not one of the portal configuration's products."
    options = []
    for price_ids in listed.values():
        for price_id in price_ids:
            price = state.store.prices.get(price_id)
            if (price is not None and price["id"] != current["id"] and price["active"] and price.get("recurring")
                    and billing.licensed(price) and price["currency"] == current["currency"]
                    and price["recurring"]["interval"] == current["recurring"]["interval"]
                    and price["recurring"]["interval_count"] == current["recurring"]["interval_count"]):
                options.append(price)
    return options, None if options else "There is no other plan to switch to."


def portal_switch(state: StripeState, portal_session_id: str, sub_id: str, price_id: str) -> dict:
    _, configuration, customer = portal_parts(state, portal_session_id)
    sub = customer_subscription(state, customer, sub_id)
    options, reason = plan_options(state, configuration, sub)
    if price_id not in [p["id"] for p in options]:
        raise state_error(reason or f"The portal does not offer the price '{price_id}' for this subscription.",
                          "price")
    behavior = configuration["features"]["subscription_update"]["proration_behavior"]
    before = snapshot(state, "subscriptions", sub)
    prorations = billing.change_items(state, sub, [{"id": sub["items"][0]["id"], "price": price_id}], behavior)
    emit(state, "customer.subscription.updated", "subscriptions", sub, before)
    billing.settle_prorations(state, sub, prorations, behavior)
    return sub


def portal_cancel(state: StripeState, portal_session_id: str, sub_id: str) -> dict:
    _, configuration, customer = portal_parts(state, portal_session_id)
    sub = customer_subscription(state, customer, sub_id)
    cancel = configuration["features"]["subscription_cancel"]
    if not cancel["enabled"]:
        raise state_error("This portal configuration does not allow cancellation.")
    if sub["status"] == "canceled":
        raise state_error("This subscription is already canceled.")
    if cancel["mode"] == "immediately":
        billing.cancel_now(state, sub, invoice_now=False, prorate=cancel["proration_behavior"] == "create_prorations")
    elif not sub["cancel_at_period_end"]:
        before = snapshot(state, "subscriptions", sub)
        billing.set_cancel_at_period_end(state, sub, True, before)
    return sub


def portal_renew(state: StripeState, portal_session_id: str, sub_id: str) -> dict:
    """Undo a cancellation at period end (the portal's "Renew plan")."""
    _, _, customer = portal_parts(state, portal_session_id)
    sub = customer_subscription(state, customer, sub_id)
    if sub["status"] == "canceled" or not sub["cancel_at_period_end"]:
        raise state_error("This subscription is not set to cancel.")
    before = snapshot(state, "subscriptions", sub)
    billing.set_cancel_at_period_end(state, sub, False, before)
    return sub


# --- Hosted invoice page
def pay_invoice_with_card(state: StripeState, invoice: dict, *, number: str, expiry: str = FAR_EXPIRY,
                          cvc: str = "123", name: str | None = None) -> None:
    """Pay an open invoice with a card typed on its page; the card becomes the customer's default, so the
    next renewal uses it (how a past_due customer gets back on track)."""
    if invoice["status"] != "open":
        raise state_error(f"This invoice is {invoice['status']}; only an open invoice can be paid.")
    typed = cards.check(number, expiry, cvc, state.now())
    decline = typed.card.attach_decline or typed.card.charge_decline
    if decline:
        raise card_error(decline)
    customer = state.store.customers[invoice["customer"]]
    customer["_fail_charges"] = None  # a new card: the failing one is no longer used
    pm = billing.attach_card(state, customer, typed, name=name, email=customer.get("email"))
    sub = state.store.subscriptions.get(invoice["subscription"]) if invoice.get("subscription") else None
    if sub is not None and sub["status"] != "canceled":
        sub["default_payment_method"] = pm["id"]
    if billing.pay(state, invoice, pm["id"]) is not None:  # cannot happen with a checked card, but say so
        raise StripeError(402, "Your card was declined.", type="card_error", code="card_declined")
