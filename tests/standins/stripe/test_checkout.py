"""Checkout Sessions in subscription mode: paid through the control endpoint and through the hosted page
(a plain form POST), declined cards, what a completed session leaves behind."""

from __future__ import annotations

import httpx
import pytest
import stripe

from standins.stripe import ControlError

PAYING, DECLINED = "4242 4242 4242 4242", "4000 0000 0000 0341"


async def new_session(client, catalog, **extra) -> stripe.checkout.Session:
    customer = await client.v1.customers.create_async({"email": "buyer@example.com"})
    return await client.v1.checkout.sessions.create_async({
        "mode": "subscription", "customer": customer.id, "client_reference_id": "user-7",
        "line_items": [{"price": catalog.pro_monthly.id, "quantity": 1}, {"price": catalog.api_metered.id}],
        "success_url": "https://app.test/billing/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.test/billing", "metadata": {"user_id": "7"},
        "subscription_data": {"metadata": {"user_id": "7"}}, **extra})


async def test_a_session_points_at_the_hosted_page(client, stripe_server, catalog):
    session = await new_session(client, catalog)
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "subscription")
    assert session.url == f"{stripe_server.url}/c/pay/{session.id}"
    assert (session.amount_total, session.currency, session.subscription) == (1000, "usd", None)
    async with httpx.AsyncClient() as http:
        page = await http.get(session.url)
    assert page.status_code == 200 and "Stripe stand-in" in page.text and 'name="cardNumber"' not in page.text
    assert "name=cardNumber" in page.text and "$10.00 / month" in page.text and "$0.05 per unit / month" in page.text


async def test_paying_through_the_control_endpoint_makes_an_active_subscription(client, stripe_server, catalog):
    session = await new_session(client, catalog)
    done = await stripe_server.pay_checkout(session.id, "4242424242424242")
    assert done["redirect_url"] == f"https://app.test/billing/done?session={session.id}"
    session = await client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["subscription", "subscription.latest_invoice", "line_items"]})
    assert (session.status, session.payment_status, session.url) == ("complete", "paid", None)
    sub = session.subscription
    assert sub.id.startswith("sub_") and sub.status == "active" and sub.customer == session.customer
    assert sub.metadata.to_dict() == {"user_id": "7"} and sub.cancel_at_period_end is False
    items = sub["items"].data
    assert [i.price.id for i in items] == [catalog.pro_monthly.id, catalog.api_metered.id]
    assert items[0].quantity == 1 and "quantity" not in items[1]  # a metered item has no quantity
    assert all(i.id.startswith("si_") for i in items)
    start, end = items[0].current_period_start, items[0].current_period_end
    assert 28 * 86400 <= end - start <= 31 * 86400 and start == sub.start_date == sub.billing_cycle_anchor
    invoice = sub.latest_invoice
    assert invoice.id.startswith("in_") and invoice.status == "paid" and invoice.billing_reason == "subscription_create"
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (1000, 1000, 0)
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.hosted_invoice_url == f"{stripe_server.url}/i/{invoice.id}"
    assert [line.amount for line in invoice.lines.data] == [1000, 0]
    assert [line.period.end for line in invoice.lines.data] == [end, end]
    assert session.line_items.data[0].price.id == catalog.pro_monthly.id and session.line_items.data[1].quantity is None
    customer = await client.v1.customers.retrieve_async(session.customer)
    pm = await client.v1.payment_methods.retrieve_async(customer.invoice_settings.default_payment_method)
    assert pm.id.startswith("pm_") and pm.customer == customer.id
    assert (pm.card.last4, pm.card.brand) == ("4242", "visa")
    kinds = [e.type for e in (await client.v1.events.list_async({"limit": 100})).data]
    for kind in ("checkout.session.completed", "customer.subscription.created", "invoice.paid",
                 "invoice.payment_succeeded", "payment_method.attached"):
        assert kind in kinds


async def test_paying_on_the_hosted_page_redirects_to_the_success_url(client, stripe_server, catalog):
    session = await new_session(client, catalog)
    async with httpx.AsyncClient() as http:
        answer = await http.post(session.url, data={"cardNumber": PAYING, "cardExpiry": "12 / 34", "cardCvc": "123",
                                                     "billingName": "Ada Lovelace"})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"https://app.test/billing/done?session={session.id}"
        again = await http.get(session.url)
    assert "Payment complete" in again.text
    session = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert session.status == "complete" and session.customer_details.name == "Ada Lovelace"


async def test_a_declined_card_leaves_nothing_behind(client, stripe_server, catalog):
    session = await new_session(client, catalog)
    events_before = len((await client.v1.events.list_async({"limit": 100})).data)
    async with httpx.AsyncClient() as http:
        answer = await http.post(session.url, data={"cardNumber": DECLINED, "cardExpiry": "12/34", "cardCvc": "123"})
    assert answer.status_code == 402 and "Your card was declined." in answer.text
    with pytest.raises(ControlError) as info:
        await stripe_server.pay_checkout(session.id, "4000000000000341")
    assert info.value.status == 402
    assert info.value.error == {"type": "card_error", "message": "Your card was declined.", "code": "card_declined",
                                "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                                "decline_code": "generic_decline"}
    session = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert (session.status, session.subscription, session.invoice) == ("open", None, None)
    customer = await client.v1.customers.retrieve_async(session.customer)
    assert customer.invoice_settings.default_payment_method is None
    assert (await client.v1.subscriptions.list_async({"customer": customer.id, "status": "all"})).data == []
    assert (await client.v1.invoices.list_async({"customer": customer.id})).data == []
    assert len((await client.v1.events.list_async({"limit": 100})).data) == events_before
    await stripe_server.pay_checkout(session.id)  # another card still works
    assert (await client.v1.checkout.sessions.retrieve_async(session.id)).status == "complete"


async def test_mistyped_cards_are_refused_with_stripes_messages(client, stripe_server, catalog):
    session = await new_session(client, catalog)
    for card, fields, message in (("4242424242424241", {}, "Your card number is incorrect."),
                                  ("4242424242424242", {"exp": "01/20"}, "Your card's expiration year is in the past."),
                                  ("4242424242424242", {"cvc": "1"}, "Your card's security code is invalid."),
                                  ("4000000000009995", {}, "Your card has insufficient funds.")):
        with pytest.raises(ControlError) as info:
            await stripe_server.pay_checkout(session.id, card, **fields)
        assert info.value.status == 402 and info.value.error["message"] == message


async def test_a_session_with_an_email_makes_its_customer(client, stripe_server, catalog):
    session = await client.v1.checkout.sessions.create_async({
        "mode": "subscription", "customer_email": "new@example.com", "success_url": "https://app.test/ok",
        "line_items": [{"price": catalog.pro_monthly.id, "quantity": 2}]})
    assert session.customer is None and session.amount_total == 2000
    done = await stripe_server.pay_checkout(session.id)
    customer = await client.v1.customers.retrieve_async(done["customer"])
    assert customer.email == "new@example.com"
    assert (await client.v1.subscriptions.retrieve_async(done["subscription"]))["items"].data[0].quantity == 2


async def test_nothing_to_pay_now_means_a_card_that_only_fails_charges_is_accepted(client, stripe_server, catalog):
    customer = await client.v1.customers.create_async({"email": "api@example.com"})
    session = await client.v1.checkout.sessions.create_async({
        "mode": "subscription", "customer": customer.id, "success_url": "https://app.test/ok",
        "line_items": [{"price": catalog.api_metered.id}]})
    await stripe_server.pay_checkout(session.id, "4000000000000341")
    session = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert (session.status, session.payment_status) == ("complete", "no_payment_required")


async def test_line_items_are_checked_as_stripe_checks_them(client, catalog):
    cases = [
        ([{"price": catalog.api_metered.id, "quantity": 1}], "line_items[0][quantity]", "should not be specified"),
        ([{"price": catalog.pro_monthly.id}], "line_items[0][quantity]", "Quantity is required"),
        ([{"price": "price_missing", "quantity": 1}], "line_items[0][price]", "No such price: 'price_missing'"),
    ]
    for items, param, message in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            await client.v1.checkout.sessions.create_async({"mode": "subscription", "line_items": items,
                                                           "success_url": "https://app.test/ok"})
        assert info.value.param == param and message in info.value.user_message
    yearly = await client.v1.prices.create_async({"product": catalog.pro.id, "currency": "usd", "unit_amount": 9000,
                                                  "recurring": {"interval": "year"}})
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.checkout.sessions.create_async({
            "mode": "subscription", "success_url": "https://app.test/ok",
            "line_items": [{"price": yearly.id, "quantity": 1}, {"price": catalog.pro_monthly.id, "quantity": 1}]})
    assert "must match" in info.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.checkout.sessions.create_async({"mode": "payment", "success_url": "https://app.test/ok",
                                                       "line_items": [{"price": yearly.id, "quantity": 1}]})
    assert info.value.param == "mode"


async def test_an_unpaid_session_expires_after_a_day(client, stripe_server, catalog):
    session = await new_session(client, catalog)
    assert session.expires_at - session.created == 86400
    await stripe_server.advance(86400)
    session = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert session.status == "expired" and session.url is None
    with pytest.raises(ControlError) as info:
        await stripe_server.pay_checkout(session.id)
    assert info.value.status == 400
    expired = (await client.v1.events.list_async({"type": "checkout.session.expired"})).data
    assert [e.data.object.id for e in expired] == [session.id]
