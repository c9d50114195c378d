"""The hosted pages, plain HTML forms without JavaScript, clearly labelled as the stand-in's:

- /c/pay/{session}   Checkout: the line items, then email (unless the session has a customer), card number,
                     expiry, CVC and name. 4242 4242 4242 4242 pays; 4000 0000 0000 0341 is declined
                     ("Your card was declined.", 402, nothing created). Paid: 303 to the success_url.
- /p/session/{id}    Customer portal: the customer's subscriptions; switch plan (the configuration's
                     prices), cancel (at period end unless configured otherwise), renew a canceled plan;
                     invoice history. Each action answers 303 back to the portal.
- /i/{invoice}       Hosted invoice page: the invoice; an open one can be paid with a card.

Field names follow Stripe's Checkout form (cardNumber, cardExpiry, cardCvc, billingName, email), so a test
can POST them with any HTTP client.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from . import billing, flows
from .clock import date_text
from .errors import StripeError
from .state import StripeState, state_of

STYLE = """body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}
.banner{background:#fff3cd;border:1px solid #e0c36c;padding:.4rem .8rem;border-radius:4px;font-size:.9rem}
.error{background:#fde2e1;border:1px solid #df1b41;color:#a4141f;padding:.6rem .8rem;border-radius:4px}
.notice{background:#e3f7ea;border:1px solid #2f9e5d;padding:.6rem .8rem;border-radius:4px}
table{width:100%;border-collapse:collapse}td{padding:.3rem 0;border-bottom:1px solid #e3e8ee}
td.amount{text-align:right}label{display:block;margin:.6rem 0 .2rem}input[type=text],input[type=email]
{width:100%;padding:.4rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1.2rem}
.card{border:1px solid #e3e8ee;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}"""
BANNER = '<p class="banner">Stripe stand-in — test mode. Not Stripe: nothing is charged.</p>'


def page(title: str, body: str, status: int = 200) -> web.Response:
    html = (f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{BANNER}<h1>{escape(title)}</h1>{body}</body></html>")
    return web.Response(text=html, status=status, content_type="text/html")


def error_box(message: str | None) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


def price_text(state: StripeState, price_id: str) -> str:
    price = state.store.prices[price_id]
    text = billing.money(price["unit_amount"], price["currency"])
    if price.get("recurring"):
        unit = " per unit" if price["recurring"]["usage_type"] == "metered" else ""
        text += f"{unit} / {billing.interval_text(price['recurring'])}"
    return text


def product_name(state: StripeState, price_id: str) -> str:
    return state.store.products[state.store.prices[price_id]["product"]]["name"]


def card_fields() -> str:
    return ('<label for=cardNumber>Card number</label>'
            '<input type=text id=cardNumber name=cardNumber autocomplete=cc-number placeholder="1234 1234 1234 1234">'
            '<label for=cardExpiry>Expiry (MM / YY)</label>'
            '<input type=text id=cardExpiry name=cardExpiry autocomplete=cc-exp placeholder="MM / YY">'
            '<label for=cardCvc>CVC</label><input type=text id=cardCvc name=cardCvc autocomplete=cc-csc>'
            '<label for=billingName>Name on card</label>'
            '<input type=text id=billingName name=billingName autocomplete=cc-name>')


# --- Checkout
def checkout_page(state: StripeState, session: dict, error: str | None = None, status: int = 200) -> web.Response:
    if session["status"] == "complete":
        link = flows.success_redirect(state, session)
        return page("Payment complete", f'<p class="notice">Thanks, your subscription is active.</p>'
                                        f'<p><a href="{escape(link)}">Continue</a></p>')
    if session["status"] == "expired":
        return page("Checkout expired", "<p>This Checkout Session has expired.</p>", 410)
    rows = "".join(
        f"<tr><td>{escape(product_name(state, item['price']))}"
        f"{'' if item['quantity'] is None else ' × ' + str(item['quantity'])}</td>"
        f"<td class=amount>{escape(price_text(state, item['price']))}</td></tr>" for item in session["line_items"])
    total = billing.money(session["amount_total"], session["currency"])
    customer = state.store.customers.get(session["customer"]) if session.get("customer") else None
    email = session.get("customer_email") or (customer or {}).get("email") or ""
    email_field = (f"<p>Email: {escape(email)}</p>" if customer else
                   f'<label for=email>Email</label><input type=email id=email name=email value="{escape(email)}">')
    back = (f'<p><a href="{escape(session["cancel_url"])}">← Back</a></p>' if session.get("cancel_url") else "")
    body = (f"{back}<table>{rows}<tr><td><b>Due today</b></td><td class=amount><b>{escape(total)}</b></td></tr>"
            f"</table>{error_box(error)}<form method=post action=\"/c/pay/{escape(session['id'])}\">{email_field}"
            f"{card_fields()}<button type=submit>Subscribe</button></form>")
    return page("Subscribe", body, status)


async def show_checkout(request: web.Request) -> web.Response:
    state = state_of(request)
    session = state.store.checkout_sessions.get(request.match_info["id"])
    if session is None:
        return page("Not found", "<p>No such Checkout Session.</p>", 404)
    return checkout_page(state, session)


async def submit_checkout(request: web.Request) -> web.Response:
    state = state_of(request)
    session = state.store.checkout_sessions.get(request.match_info["id"])
    if session is None:
        return page("Not found", "<p>No such Checkout Session.</p>", 404)
    form = await request.post()
    try:
        done = flows.complete_checkout(state, session, number=str(form.get("cardNumber", "")),
                                       expiry=str(form.get("cardExpiry", "")), cvc=str(form.get("cardCvc", "")),
                                       name=str(form.get("billingName", "")) or None,
                                       email=str(form.get("email", "")) or None)
    except StripeError as error:
        return checkout_page(state, session, error.message, error.status)
    raise web.HTTPSeeOther(done["redirect_url"])


# --- Customer portal
def subscription_card(state: StripeState, portal: dict, configuration: dict, sub: dict) -> str:
    names = ", ".join(f"{escape(product_name(state, i['price']))} ({escape(price_text(state, i['price']))})"
                      for i in sub["items"])
    if sub["cancel_at_period_end"]:
        when = f"Cancels on {date_text(sub['current_period_end'])}"
    else:
        when = f"Renews on {date_text(sub['current_period_end'])}"
    action = f"/p/session/{escape(portal['id'])}"
    hidden = f'<input type=hidden name=subscription value="{escape(sub["id"])}">'
    parts = [f"<div class=card><p><b>{names}</b></p><p>Status: {escape(sub['status'])}. {when}.</p>"]
    options, reason = flows.plan_options(state, configuration, sub)
    if options:
        choices = "".join(
            f'<label><input type=radio name=price value="{escape(p["id"])}"> {escape(product_name(state, p["id"]))}'
            f' — {escape(price_text(state, p["id"]))}</label>' for p in options)
        parts.append(f'<form method=post action="{action}/update">{hidden}<p>Change plan:</p>{choices}'
                     f"<button type=submit>Update plan</button></form>")
    elif configuration["features"]["subscription_update"]["enabled"] and reason:
        parts.append(f"<p><small>{escape(reason)}</small></p>")
    if configuration["features"]["subscription_cancel"]["enabled"]:
        if sub["cancel_at_period_end"]:
            parts.append(f'<form method=post action="{action}/renew">{hidden}<button type=submit>Renew plan'
                         f"</button></form>")
        else:
            parts.append(f'<form method=post action="{action}/cancel">{hidden}<button type=submit>Cancel plan'
                         f"</button></form>")
    parts.append("</div>")
    return "".join(parts)


NOTICES = {"updated": "Your plan was updated.", "canceled": "Your plan was canceled.",
           "renewed": "Your plan will renew."}


def portal_page(state: StripeState, portal_id: str, *, error: str | None = None, notice: str | None = None,
                status: int = 200) -> web.Response:
    try:
        portal, configuration, customer = flows.portal_parts(state, portal_id)
    except StripeError:
        return page("Not found", "<p>No such portal session.</p>", 404)
    subs = [s for s in state.store.newest_first("subscriptions")
            if s["customer"] == customer["id"] and s["status"] in billing.LIVE]
    cards = "".join(subscription_card(state, portal, configuration, s) for s in subs) or "<p>No subscriptions.</p>"
    invoices = ""
    if configuration["features"]["invoice_history"]["enabled"]:
        rows = "".join(
            f"<tr><td>{date_text(i['created'])}</td><td><a href=\"{escape(i['hosted_invoice_url'])}\">"
            f"{escape(i['number'] or i['id'])}</a></td><td>{escape(i['status'])}</td>"
            f"<td class=amount>{escape(billing.money(i['total'], i['currency']))}</td></tr>"
            for i in state.store.newest_first("invoices") if i["customer"] == customer["id"] and i["status"] != "draft")
        invoices = f"<h2>Invoices</h2><table>{rows}</table>" if rows else ""
    back = f'<p><a href="{escape(portal["return_url"])}">← Return</a></p>' if portal.get("return_url") else ""
    body = (f"{back}<p>{escape(customer.get('email') or customer['id'])}</p>"
            f"{'<p class=notice>' + escape(notice) + '</p>' if notice else ''}{error_box(error)}"
            f"<h2>Subscriptions</h2>{cards}{invoices}")
    return page("Manage your subscription", body, status)


async def show_portal(request: web.Request) -> web.Response:
    return portal_page(state_of(request), request.match_info["id"],
                       notice=NOTICES.get(request.query.get("done", "")))


async def portal_action(request: web.Request) -> web.Response:
    state, portal_id, action = state_of(request), request.match_info["id"], request.match_info["action"]
    form = await request.post()
    sub_id = str(form.get("subscription", ""))
    try:
        if action == "update":
            flows.portal_switch(state, portal_id, sub_id, str(form.get("price", "")))
        elif action == "cancel":
            flows.portal_cancel(state, portal_id, sub_id)
        elif action == "renew":
            flows.portal_renew(state, portal_id, sub_id)
        else:
            return page("Not found", "<p>No such action.</p>", 404)
    except StripeError as error:
        return portal_page(state, portal_id, error=error.message, status=error.status)
    done = {"update": "updated", "cancel": "canceled", "renew": "renewed"}[action]
    raise web.HTTPSeeOther(f"/p/session/{portal_id}?done={done}")


# --- Hosted invoice page
def invoice_page(state: StripeState, invoice: dict, error: str | None = None, status: int = 200) -> web.Response:
    currency = invoice["currency"]
    rows = "".join(f"<tr><td>{escape(line['description'])}<br><small>{date_text(line['period']['start'])} – "
                   f"{date_text(line['period']['end'])}</small></td>"
                   f"<td class=amount>{escape(billing.money(line['amount'], currency))}</td></tr>"
                   for line in invoice["lines"])
    summary = (f"<p>Invoice {escape(invoice['number'] or invoice['id'])} — status <b>{escape(invoice['status'])}"
               f"</b></p><table>{rows}<tr><td>Amount due</td><td class=amount>"
               f"{escape(billing.money(invoice['amount_due'], currency))}</td></tr><tr><td>Amount paid</td>"
               f"<td class=amount>{escape(billing.money(invoice['amount_paid'], currency))}</td></tr></table>")
    form = ""
    if invoice["status"] == "open":
        declined = invoice.get("_last_decline")
        note = "<p>The last payment attempt failed.</p>" if declined else ""
        form = (f"{note}{error_box(error)}<form method=post action=\"/i/{escape(invoice['id'])}\">{card_fields()}"
                f"<button type=submit>Pay {escape(billing.money(invoice['amount_due'], currency))}</button></form>")
    return page("Invoice", summary + form, status)


async def show_invoice(request: web.Request) -> web.Response:
    state = state_of(request)
    invoice = state.store.invoices.get(request.match_info["id"])
    if invoice is None or invoice["status"] == "draft":
        return page("Not found", "<p>No such invoice.</p>", 404)
    return invoice_page(state, invoice)


async def pay_invoice(request: web.Request) -> web.Response:
    state = state_of(request)
    invoice = state.store.invoices.get(request.match_info["id"])
    if invoice is None or invoice["status"] == "draft":
        return page("Not found", "<p>No such invoice.</p>", 404)
    form = await request.post()
    try:
        flows.pay_invoice_with_card(state, invoice, number=str(form.get("cardNumber", "")),
                                    expiry=str(form.get("cardExpiry", "")), cvc=str(form.get("cardCvc", "")),
                                    name=str(form.get("billingName", "")) or None)
    except StripeError as error:
        return invoice_page(state, invoice, error.message, error.status)
    raise web.HTTPSeeOther(f"/i/{invoice['id']}")


ROUTES = [
    ("GET", "/c/pay/{id}", show_checkout),
    ("POST", "/c/pay/{id}", submit_checkout),
    ("GET", "/p/session/{id}", show_portal),
    ("POST", "/p/session/{id}/{action}", portal_action),
    ("GET", "/i/{id}", show_invoice),
    ("POST", "/i/{id}", pay_invoice),
]
