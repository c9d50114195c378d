"""Subscriptions and invoices as Stripe moves them: creation with a first invoice, renewals at period end,
payment attempts and their retries, price changes with or without proration, cancellation now or at period
end. Routes, hosted pages and controls all go through here, so a plan switched on the portal page and one
switched with subscriptions.update change the same things and send the same events.

Simplifications (see the README): a renewal invoice is finalized and charged at once (Stripe waits about an
hour); metered usage is billed at the item's price at the end of the period; amounts carry no tax or
discount; the customer's credit balance is the only thing carried between invoices besides pending
proration items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .clock import date_text, period_boundary
from .errors import StripeError, state_error
from .events import emit, snapshot

if TYPE_CHECKING:
    from .state import StripeState

DAY = 86400
LIVE = ("active", "past_due", "unpaid")  # statuses of a subscription that still exists
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                "xaf", "xof", "xpf"}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "jpy": "¥"}


def money(amount: int, currency: str) -> str:
    sign = "-" if amount < 0 else ""
    value = str(abs(amount)) if currency in ZERO_DECIMAL else f"{abs(amount) / 100:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{value}" if symbol else f"{sign}{value} {currency.upper()}"


def interval_text(recurring: dict) -> str:
    count, interval = recurring["interval_count"], recurring["interval"]
    return interval if count == 1 else f"{count} {interval}s"


# --- customers and cards
def new_customer(state: StripeState, *, email: str | None = None, name: str | None = None,
                 description: str | None = None, phone: str | None = None,
                 metadata: dict | None = None) -> dict:
    customer = state.store.add("customers", {
        "id": state.ids.new("cus_"), "created": state.now(), "email": email, "name": name,
        "description": description, "phone": phone, "metadata": metadata or {}, "balance": 0, "currency": None,
        "default_payment_method": None, "delinquent": False, "invoice_prefix": state.ids.invoice_prefix(),
        "next_invoice_sequence": 1, "_fail_charges": None})
    emit(state, "customer.created", "customers", customer)
    return customer


def attach_card(state: StripeState, customer: dict, typed, *, name: str | None, email: str | None) -> dict:
    """Save a checked card (cards.TypedCard) on the customer and make it their default."""
    pm = state.store.add("payment_methods", {
        "id": state.ids.new("pm_"), "created": state.now(), "customer": customer["id"], "name": name,
        "email": email, "metadata": {},
        "card": {"brand": typed.card.brand, "funding": typed.card.funding, "last4": typed.last4,
                 "exp_month": typed.exp_month, "exp_year": typed.exp_year, "fingerprint": typed.fingerprint},
        "_charge_decline": typed.card.charge_decline})
    emit(state, "payment_method.attached", "payment_methods", pm)
    before = snapshot(state, "customers", customer)
    customer["default_payment_method"] = pm["id"]
    emit(state, "customer.updated", "customers", customer, before)
    return pm


def charge_decline(state: StripeState, customer: dict, pm_id: str | None) -> str | None:
    """Why charging the customer now fails (a decline code), or None if it goes through."""
    if customer.get("_fail_charges"):
        return customer["_fail_charges"]
    pm = state.store.payment_methods.get(pm_id) if pm_id else None
    if pm is None:
        return "no_payment_method"
    return pm.get("_charge_decline")


# --- invoices
def line(state: StripeState, *, amount: int, description: str, start: int, end: int, price: str | None,
         quantity: int | None, subscription: str | None, item: str | None = None, proration: bool = False,
         invoice_item: str | None = None) -> dict:
    return {"id": state.ids.new("il_"), "amount": amount, "description": description,
            "period": {"start": start, "end": end}, "price": price, "quantity": quantity,
            "subscription": subscription, "subscription_item": item, "proration": proration,
            "invoice_item": invoice_item}


def new_invoice(state: StripeState, customer: dict, sub: dict | None, lines: list[dict], billing_reason: str,
                period_start: int, period_end: int) -> dict:
    """A draft invoice with these lines and the subscription's pending proration items (invoice.created)."""
    pending = [i for i in state.store.invoice_items.values()
               if i["customer"] == customer["id"] and i.get("invoice") is None
               and i.get("subscription") == (sub["id"] if sub else None)]
    for item in pending:
        lines.append(line(state, amount=item["amount"], description=item["description"], start=item["period"]["start"],
                          end=item["period"]["end"], price=item["price"], quantity=item["quantity"],
                          subscription=item.get("subscription"), proration=item["proration"],
                          invoice_item=item["id"]))
    total = sum(entry["amount"] for entry in lines)
    invoice = state.store.add("invoices", {
        "id": state.ids.new("in_"), "created": state.now(), "customer": customer["id"],
        "customer_email": customer.get("email"), "customer_name": customer.get("name"),
        "subscription": sub["id"] if sub else None,
        "subscription_metadata": dict(sub["metadata"]) if sub else None,
        "currency": sub["currency"] if sub else (customer.get("currency") or "usd"), "status": "draft",
        "number": None, "lines": lines, "subtotal": total, "total": total, "amount_due": max(0, total),
        "amount_paid": 0, "starting_balance": 0, "ending_balance": None, "attempt_count": 0, "attempted": False,
        "billing_reason": billing_reason, "period_start": period_start, "period_end": period_end,
        "status_transitions": {"finalized_at": None, "paid_at": None}, "next_payment_attempt": None,
        "metadata": {}, "_first_failure": None, "_last_decline": None})
    invoice["hosted_invoice_url"] = f"{state.base_url()}/i/{invoice['id']}"
    for item in pending:
        item["invoice"] = invoice["id"]
    emit(state, "invoice.created", "invoices", invoice)
    return invoice


def finalize(state: StripeState, invoice: dict) -> None:
    """Number the invoice and apply the customer's balance (a credit lowers what is due)."""
    customer = state.store.customers[invoice["customer"]]
    invoice["starting_balance"] = customer["balance"]
    combined = invoice["total"] + customer["balance"]
    invoice["amount_due"] = max(0, combined)
    invoice["ending_balance"] = min(0, combined)
    customer["balance"] = invoice["ending_balance"]
    invoice["number"] = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
    customer["next_invoice_sequence"] += 1
    invoice["status"] = "open"
    invoice["status_transitions"]["finalized_at"] = state.now()
    emit(state, "invoice.finalized", "invoices", invoice)


def pay(state: StripeState, invoice: dict, pm_id: str | None = None) -> str | None:
    """Attempt payment of an open invoice with `pm_id` or the customer's default card: None when paid,
    else the decline code (invoice.payment_failed, the subscription past_due, a retry scheduled)."""
    customer = state.store.customers[invoice["customer"]]
    sub = state.store.subscriptions.get(invoice["subscription"]) if invoice.get("subscription") else None
    if pm_id is None:
        pm_id = (sub or {}).get("default_payment_method") or customer.get("default_payment_method")
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    decline = charge_decline(state, customer, pm_id) if invoice["amount_due"] > 0 else None
    if decline is None:
        mark_paid(state, invoice)
        return None
    now = state.now()
    invoice["_last_decline"] = decline
    invoice["_first_failure"] = invoice["_first_failure"] or now
    retries = state.config.payment_retry_days
    failures = invoice["attempt_count"]
    final = failures > len(retries) or (sub is not None and sub["status"] == "canceled")
    invoice["next_payment_attempt"] = None if final else invoice["_first_failure"] + retries[failures - 1] * DAY
    emit(state, "invoice.payment_failed", "invoices", invoice)
    customer["delinquent"] = True
    if sub is not None and sub["status"] == "active":
        set_status(state, sub, "past_due")
    if final and sub is not None and sub["status"] in ("past_due", "unpaid"):
        after = state.config.after_final_failure
        if after == "canceled":
            end_subscription(state, sub, "payment_failed")
        elif after == "unpaid" and sub["status"] != "unpaid":
            set_status(state, sub, "unpaid")
    return decline


def mark_paid(state: StripeState, invoice: dict) -> None:
    invoice["amount_paid"] = invoice["amount_due"]
    invoice["status"] = "paid"
    invoice["status_transitions"]["paid_at"] = state.now()
    invoice["next_payment_attempt"] = None
    emit(state, "invoice.paid", "invoices", invoice)
    emit(state, "invoice.payment_succeeded", "invoices", invoice)
    customer = state.store.customers[invoice["customer"]]
    still_open = [i for i in state.store.invoices.values() if i["customer"] == customer["id"] and i["status"] == "open"]
    if not still_open and customer["delinquent"]:
        customer["delinquent"] = False
    sub = state.store.subscriptions.get(invoice["subscription"]) if invoice.get("subscription") else None
    if sub is not None and sub["status"] in ("past_due", "unpaid"):
        if not [i for i in still_open if i.get("subscription") == sub["id"]]:
            set_status(state, sub, "active")


def set_status(state: StripeState, sub: dict, status: str) -> None:
    before = snapshot(state, "subscriptions", sub)
    sub["status"] = status
    emit(state, "customer.subscription.updated", "subscriptions", sub, before)


# --- subscriptions
def price_of(state: StripeState, price_id: str) -> dict:
    return state.store.prices[price_id]


def licensed(price: dict) -> bool:
    return price["recurring"]["usage_type"] == "licensed"


def item_line(state: StripeState, sub: dict, item: dict, start: int, end: int, quantity: int) -> dict:
    price = price_of(state, item["price"])
    name = state.store.products[price["product"]]["name"]
    return line(state, amount=price["unit_amount"] * quantity, start=start, end=end, price=price["id"],
                description=f"{quantity} × {name} (at {money(price['unit_amount'], price['currency'])} / "
                            f"{interval_text(price['recurring'])})",
                quantity=quantity, subscription=sub["id"], item=item["id"])


def create_subscription(state: StripeState, customer: dict, items: list[tuple[dict, int | None]],
                        metadata: dict, pm_id: str | None) -> tuple[dict, dict]:
    """A new active subscription and its first invoice, finalized (payment is the caller's: Checkout has
    already charged the card by the time it gets here)."""
    now = state.now()
    first = items[0][0]["recurring"]
    sub = state.store.add("subscriptions", {
        "id": state.ids.new("sub_"), "created": now, "customer": customer["id"], "status": "active",
        "currency": items[0][0]["currency"], "billing_cycle_anchor": now, "start_date": now,
        "interval": first["interval"], "interval_count": first["interval_count"], "period_index": 0,
        "current_period_start": now,
        "current_period_end": period_boundary(now, first["interval"], first["interval_count"], 1),
        "cancel_at_period_end": False, "cancel_at": None, "canceled_at": None, "ended_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None}, "metadata": metadata,
        "latest_invoice": None, "default_payment_method": pm_id,
        "items": [{"id": state.ids.new("si_"), "created": now, "price": price["id"],
                   "quantity": (quantity or 1) if licensed(price) else None, "metadata": {}}
                  for price, quantity in items]})
    if customer.get("currency") is None:
        customer["currency"] = sub["currency"]
    lines = [item_line(state, sub, item, sub["current_period_start"], sub["current_period_end"],
                       item["quantity"] if item["quantity"] is not None else 0) for item in sub["items"]]
    invoice = new_invoice(state, customer, sub, lines, "subscription_create", now, now)
    sub["latest_invoice"] = invoice["id"]
    emit(state, "customer.subscription.created", "subscriptions", sub)
    finalize(state, invoice)
    return sub, invoice


def usage(state: StripeState, customer_id: str, meter_id: str, start: int, end: int) -> int:
    """What the meter aggregates for the customer over [start, end)."""
    meter = state.store.meters.get(meter_id)
    events = sorted((e for e in state.store.meter_events
                     if e["accepted"] and e["meter"] == meter_id and e["customer"] == customer_id
                     and start <= e["timestamp"] < end), key=lambda e: (e["timestamp"], e["seq"]))
    formula = meter["default_aggregation"]["formula"] if meter else "sum"
    if formula == "count":
        return len(events)
    if formula == "last":
        return events[-1]["value"] if events else 0
    return sum(e["value"] for e in events)


def usage_lines(state: StripeState, sub: dict, start: int, end: int) -> list[dict]:
    lines = []
    for item in sub["items"]:
        price = price_of(state, item["price"])
        if not licensed(price):
            used = max(0, usage(state, sub["customer"], price["recurring"].get("meter"), start, end))
            lines.append(item_line(state, sub, item, start, end, used))
    return lines


def renew(state: StripeState, sub: dict) -> None:
    """The subscription's period has ended (the clock stands at its end): end it if it was set to cancel,
    else start the next period and invoice it (licensed items in advance, metered usage in arrears)."""
    start, end = sub["current_period_start"], sub["current_period_end"]
    customer = state.store.customers[sub["customer"]]
    if sub["cancel_at_period_end"] or (sub.get("cancel_at") and sub["cancel_at"] <= end):
        final = usage_lines(state, sub, start, end)
        if final:
            invoice = new_invoice(state, customer, sub, final, "subscription_cycle", start, end)
            finalize(state, invoice)
            pay(state, invoice)
        end_subscription(state, sub, "cancellation_requested")
        return
    before = snapshot(state, "subscriptions", sub)
    sub["period_index"] += 1
    sub["current_period_start"] = end
    sub["current_period_end"] = period_boundary(sub["billing_cycle_anchor"], sub["interval"], sub["interval_count"],
                                                sub["period_index"] + 1)
    lines = [item_line(state, sub, item, sub["current_period_start"], sub["current_period_end"], item["quantity"])
             for item in sub["items"] if licensed(price_of(state, item["price"]))]
    lines += usage_lines(state, sub, start, end)
    # Stripe's invoice period is the one its usage and pending items were gathered in: the period that
    # just ended. The service paid for in advance is on the lines (`period` of each).
    invoice = new_invoice(state, customer, sub, lines, "subscription_cycle", start, end)
    sub["latest_invoice"] = invoice["id"]
    emit(state, "customer.subscription.updated", "subscriptions", sub, before)
    finalize(state, invoice)
    pay(state, invoice)


def end_subscription(state: StripeState, sub: dict, reason: str) -> None:
    now = state.now()
    sub["status"] = "canceled"
    sub["ended_at"] = now
    sub["canceled_at"] = sub.get("canceled_at") or now
    sub["cancellation_details"]["reason"] = reason
    for invoice in state.store.invoices.values():  # no more payment attempts for a subscription that is gone
        if invoice.get("subscription") == sub["id"] and invoice["status"] == "open":
            invoice["next_payment_attempt"] = None
    emit(state, "customer.subscription.deleted", "subscriptions", sub)


def set_cancel_at_period_end(state: StripeState, sub: dict, flag: bool, before: dict | None = None,
                             *, emit_event: bool = True) -> None:
    sub["cancel_at_period_end"] = flag
    sub["canceled_at"] = state.now() if flag else None
    sub["cancellation_details"]["reason"] = "cancellation_requested" if flag else None
    if emit_event:
        emit(state, "customer.subscription.updated", "subscriptions", sub, before)


def cancel_now(state: StripeState, sub: dict, *, invoice_now: bool, prorate: bool) -> None:
    """subscriptions.cancel: ends at once; `invoice_now` bills metered usage so far (and, with `prorate`,
    credits the unused time of licensed items on that invoice; without it the credit waits as pending items)."""
    now = state.now()
    customer = state.store.customers[sub["customer"]]
    credits = []
    if prorate:
        for item in sub["items"]:
            price = price_of(state, item["price"])
            if licensed(price):
                credits.append(proration_line(state, sub, item, price, item["quantity"], now, credit=True))
    if invoice_now:
        lines = usage_lines(state, sub, sub["current_period_start"], now) + credits
        invoice = new_invoice(state, customer, sub, lines, "subscription_cycle", sub["current_period_start"], now)
        finalize(state, invoice)
        pay(state, invoice)
    else:
        for credit in credits:
            keep_pending_item(state, customer, None, credit)
    end_subscription(state, sub, "cancellation_requested")


def proration_line(state: StripeState, sub: dict, item: dict, price: dict, quantity: int, now: int, *,
                   credit: bool) -> dict:
    start, end = sub["current_period_start"], sub["current_period_end"]
    fraction = max(0.0, min(1.0, (end - now) / (end - start))) if end > start else 0.0
    amount = round(price["unit_amount"] * quantity * fraction)
    name = state.store.products[price["product"]]["name"]
    text = (f"Unused time on {quantity} × {name} after {date_text(now)}" if credit
            else f"Remaining time on {quantity} × {name} after {date_text(now)}")
    return line(state, amount=-amount if credit else amount, description=text, start=now, end=end,
                price=price["id"], quantity=quantity, subscription=sub["id"], item=item["id"], proration=True)


def keep_pending_item(state: StripeState, customer: dict, sub: dict | None, entry: dict) -> None:
    state.store.add("invoice_items", {
        "id": state.ids.new("ii_"), "created": state.now(), "customer": customer["id"],
        "subscription": sub["id"] if sub else None, "amount": entry["amount"], "description": entry["description"],
        "period": entry["period"], "price": entry["price"], "quantity": entry["quantity"],
        "proration": entry["proration"], "invoice": None})


def change_items(state: StripeState, sub: dict, changes: list[dict], proration_behavior: str) -> list[dict]:
    """Apply item changes ({"id"?, "price"?, "quantity"?, "deleted"?, "metadata"?}) to the subscription and
    return the proration lines they make (licensed items only; metered usage is billed at period end)."""
    now = state.now()
    prorations: list[dict] = []
    for change in changes:
        if change.get("id"):
            item = next((i for i in sub["items"] if i["id"] == change["id"]), None)
            if item is None:
                raise state_error(f"No such subscription_item: '{change['id']}'", "items")
            old_price = price_of(state, item["price"])
            if change.get("deleted"):
                if licensed(old_price) and proration_behavior != "none":
                    prorations.append(proration_line(state, sub, item, old_price, item["quantity"], now, credit=True))
                sub["items"].remove(item)
                continue
            new_price = price_of(state, change.get("price") or item["price"])
            quantity = change.get("quantity")
            if quantity is None and licensed(old_price):
                quantity = item["quantity"]
            if licensed(new_price) and quantity is None:
                quantity = 1
            changed = new_price["id"] != old_price["id"] or (licensed(new_price) and quantity != item["quantity"])
            if changed and proration_behavior != "none":
                if licensed(old_price):
                    prorations.append(proration_line(state, sub, item, old_price, item["quantity"], now, credit=True))
                if licensed(new_price):
                    prorations.append(proration_line(state, sub, item, new_price, quantity, now, credit=False))
            item["price"] = new_price["id"]
            item["quantity"] = quantity if licensed(new_price) else None
            if change.get("metadata") is not None:
                item["metadata"] = change["metadata"]
        else:
            new_price = price_of(state, change["price"])
            quantity = (1 if change.get("quantity") is None else change["quantity"]) if licensed(new_price) else None
            item = {"id": state.ids.new("si_"), "created": now, "price": new_price["id"], "quantity": quantity,
                    "metadata": change.get("metadata") or {}}
            sub["items"].append(item)
            if licensed(new_price) and proration_behavior != "none":
                prorations.append(proration_line(state, sub, item, new_price, quantity, now, credit=False))
    if not sub["items"]:
        raise state_error("A subscription must have at least one active plan. To cancel a subscription, please "
                          "use the cancel API endpoint on /v1/subscriptions.", "items")
    return prorations


def check_items_match(state: StripeState, prices: list[dict], param: str) -> None:
    """Stripe's rule: every item of one subscription has the same currency and billing interval."""
    for price in prices:
        if not price.get("recurring"):
            raise StripeError(400, f"The price specified is set to `type=one_time` but this field only accepts "
                                   f"prices with `type=recurring`.", param=param)
    keys = {(p["currency"], p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in prices}
    if len(keys) > 1:
        raise StripeError(400, "Currency and interval fields must match across all plans on this subscription. "
                               "Found mismatch in interval or currency field.", param=param)


def settle_prorations(state: StripeState, sub: dict, prorations: list[dict], proration_behavior: str) -> None:
    """always_invoice: an invoice now, charged; create_prorations: pending items for the next invoice."""
    if not prorations:
        return
    customer = state.store.customers[sub["customer"]]
    if proration_behavior == "always_invoice":
        now = state.now()
        invoice = new_invoice(state, customer, sub, prorations, "subscription_update", now, now)
        sub["latest_invoice"] = invoice["id"]
        finalize(state, invoice)
        pay(state, invoice)
    elif proration_behavior == "create_prorations":
        for entry in prorations:
            keep_pending_item(state, customer, sub, entry)


# --- the passing of time
def due(state: StripeState) -> list[tuple[int, str, dict]]:
    """What happens at a given time: period ends, payment retries, Checkout Sessions expiring."""
    found: list[tuple[int, str, dict]] = []
    for sub in state.store.subscriptions.values():
        if sub["status"] in ("active", "past_due"):
            found.append((sub["current_period_end"], "renew", sub))
    for invoice in state.store.invoices.values():
        if invoice["status"] == "open" and invoice.get("next_payment_attempt"):
            found.append((invoice["next_payment_attempt"], "retry", invoice))
    for session in state.store.checkout_sessions.values():
        if session["status"] == "open":
            found.append((session["expires_at"], "expire", session))
    return found


def run_until(state: StripeState, until: int) -> int:
    """Let everything due up to `until` happen in time order (each at its own time), then set the clock to
    `until`; the number of things that happened."""
    done = 0
    for _ in range(100_000):  # a bound, not a limit anyone should reach
        pending = [entry for entry in due(state) if entry[0] <= until]
        if not pending:
            break
        when, kind, record = min(pending, key=lambda e: (e[0], {"expire": 0, "retry": 1, "renew": 2}[e[1]]))
        state.clock.set(when)
        if kind == "renew":
            renew(state, record)
        elif kind == "retry":
            pay(state, record)
        else:
            record["status"] = "expired"
            emit(state, "checkout.session.expired", "checkout_sessions", record)
        done += 1
    state.clock.set(until)
    return done
