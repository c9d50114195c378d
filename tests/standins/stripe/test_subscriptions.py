"""Subscriptions over time: renewals when the clock passes a period end, failed renewals (past_due, then
the retries, then canceled), paying an open invoice on its hosted page, cancel at period end, changes of
price with and without proration, cancel now."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .conftest import subscribe


def period_of(sub) -> tuple[int, int]:
    item = sub["items"].data[0]
    return item.current_period_start, item.current_period_end


async def invoices_of(client, sub_id: str) -> list:
    return (await client.v1.invoices.list_async({"subscription": sub_id})).data


async def test_a_renewal_starts_the_next_period_and_charges_the_default_card(client, stripe_server, subscribed):
    sub = subscribed.subscription
    start, end = period_of(sub)
    advanced = await stripe_server.advance(to="period_end", subscription=sub.id)
    assert advanced["now"] >= end and advanced["happened"] == 1
    renewed = await client.v1.subscriptions.retrieve_async(sub.id)
    assert renewed.status == "active" and period_of(renewed)[0] == end and period_of(renewed)[1] > end
    latest = await client.v1.invoices.retrieve_async(renewed.latest_invoice)
    assert (latest.status, latest.billing_reason, latest.amount_paid) == ("paid", "subscription_cycle", 1000)
    # As on Stripe, the invoice's own period is the one that ended (usage is gathered over it); the licensed
    # line is for the new period, paid in advance.
    assert (latest.period_start, latest.period_end) == (start, end)
    assert latest.lines.data[0].period.start == end and latest.lines.data[0].period.end == period_of(renewed)[1]
    kinds = [(await client.v1.events.retrieve_async(e)).type for e in advanced["events"]]
    assert kinds == ["invoice.created", "customer.subscription.updated", "invoice.finalized", "invoice.paid",
                     "invoice.payment_succeeded"]
    assert len(await invoices_of(client, sub.id)) == 2


async def test_months_follow_the_anchor_day(client, stripe_server, subscribed):
    sub = subscribed.subscription
    for _ in range(3):
        await stripe_server.advance(to="period_end", subscription=sub.id)
    sub = await client.v1.subscriptions.retrieve_async(sub.id)
    assert len(await invoices_of(client, sub.id)) == 4
    assert 28 * 86400 <= period_of(sub)[1] - period_of(sub)[0] <= 31 * 86400


async def test_a_failed_renewal_makes_the_subscription_past_due(client, stripe_server, subscribed):
    sub, customer = subscribed.subscription, subscribed.customer
    await stripe_server.fail_charges(customer.id, decline_code="insufficient_funds")
    advanced = await stripe_server.advance(to="period_end", subscription=sub.id)
    sub = await client.v1.subscriptions.retrieve_async(sub.id)
    assert sub.status == "past_due"
    invoice = await client.v1.invoices.retrieve_async(sub.latest_invoice)
    assert (invoice.status, invoice.attempt_count, invoice.attempted, invoice.amount_paid) == ("open", 1, True, 0)
    assert invoice.next_payment_attempt == invoice.status_transitions.finalized_at + 3 * 86400
    kinds = [(await client.v1.events.retrieve_async(e)).type for e in advanced["events"]]
    assert "invoice.payment_failed" in kinds and "invoice.paid" not in kinds
    assert kinds[-1] == "customer.subscription.updated"
    last = await client.v1.events.retrieve_async(advanced["events"][-1])
    assert last.data.object.status == "past_due" and last.data.previous_attributes.status == "active"
    assert (await client.v1.customers.retrieve_async(customer.id)).delinquent is True
    with pytest.raises(stripe.CardError) as info:
        await client.v1.invoices.pay_async(invoice.id)
    assert info.value.code == "card_declined" and info.value.error.decline_code == "insufficient_funds"


async def test_a_past_due_customer_pays_on_the_hosted_invoice_page(client, stripe_server, subscribed):
    sub = subscribed.subscription
    await stripe_server.fail_charges(subscribed.customer.id)
    await stripe_server.advance(to="period_end", subscription=sub.id)
    latest = (await client.v1.subscriptions.retrieve_async(sub.id)).latest_invoice
    invoice = await client.v1.invoices.retrieve_async(latest)
    async with httpx.AsyncClient() as http:
        page = await http.get(invoice.hosted_invoice_url)
        assert page.status_code == 200 and "The last payment attempt failed." in page.text
        answer = await http.post(invoice.hosted_invoice_url, data={
            "cardNumber": "5555 5555 5555 4444", "cardExpiry": "12/34", "cardCvc": "123"})
        assert answer.status_code == 303
    invoice = await client.v1.invoices.retrieve_async(invoice.id)
    assert invoice.status == "paid" and invoice.amount_paid == invoice.amount_due
    sub = await client.v1.subscriptions.retrieve_async(sub.id)
    assert sub.status == "active"
    pm = await client.v1.payment_methods.retrieve_async(sub.default_payment_method)
    assert pm.card.brand == "mastercard"
    await stripe_server.advance(to="period_end", subscription=sub.id)  # the next renewal uses the new card
    assert (await client.v1.subscriptions.retrieve_async(sub.id)).status == "active"


async def test_retries_then_cancel_when_the_card_keeps_failing(client, stripe_server, subscribed):
    sub = subscribed.subscription
    await stripe_server.fail_charges(subscribed.customer.id)
    await stripe_server.advance(to="period_end", subscription=sub.id)
    invoice_id = (await client.v1.subscriptions.retrieve_async(sub.id)).latest_invoice
    await stripe_server.advance(6 * 86400)  # the retries at +3 and +5 days fail
    invoice = await client.v1.invoices.retrieve_async(invoice_id)
    assert invoice.attempt_count == 3 and (await client.v1.subscriptions.retrieve_async(sub.id)).status == "past_due"
    await stripe_server.advance(86400)  # the last one, at +7 days
    sub = await client.v1.subscriptions.retrieve_async(sub.id)
    assert sub.status == "canceled" and sub.cancellation_details.reason == "payment_failed"
    invoice = await client.v1.invoices.retrieve_async(invoice_id)
    assert invoice.status == "open" and invoice.attempt_count == 4 and invoice.next_payment_attempt is None
    failed = (await client.v1.events.list_async({"type": "invoice.payment_failed"})).data
    assert len(failed) == 4


async def test_cancel_at_period_end_then_the_period_ends(client, stripe_server, catalog):
    creator = await subscribe(client, stripe_server, [(catalog.pro_monthly.id, 1)])
    sub = await client.v1.subscriptions.update_async(creator.subscription.id, {"cancel_at_period_end": True})
    assert sub.status == "active" and sub.cancel_at_period_end is True
    end = period_of(sub)[1]
    advanced = await stripe_server.advance(to="period_end", subscription=sub.id)
    sub = await client.v1.subscriptions.retrieve_async(sub.id)
    assert (sub.status, sub.ended_at) == ("canceled", end)
    events = [await client.v1.events.retrieve_async(e) for e in advanced["events"]]
    assert [e.type for e in events] == ["customer.subscription.deleted"]
    assert events[0].data.object.status == "canceled"
    assert len(await invoices_of(client, sub.id)) == 1  # nothing billed for a period that will not happen
    assert (await client.v1.subscriptions.list_async({"customer": creator.customer.id})).data == []
    everything = await client.v1.subscriptions.list_async({"customer": creator.customer.id, "status": "all"})
    assert [s.id for s in everything.data] == [sub.id]


async def test_a_price_change_with_always_invoice_charges_the_difference_now(client, stripe_server, catalog):
    creator = await subscribe(client, stripe_server, [(catalog.pro_monthly.id, 1)])
    item = creator.subscription["items"].data[0]
    await stripe_server.advance(15 * 86400)
    sub = await client.v1.subscriptions.update_async(creator.subscription.id, {
        "items": [{"id": item.id, "price": catalog.studio_monthly.id}], "proration_behavior": "always_invoice",
        "metadata": {"plan": "studio"}})
    assert sub["items"].data[0].price.id == catalog.studio_monthly.id and sub.metadata.plan == "studio"
    invoice = await client.v1.invoices.retrieve_async(sub.latest_invoice)
    assert invoice.billing_reason == "subscription_update" and invoice.status == "paid"
    credit, charge = invoice.lines.data
    assert credit.amount < 0 < charge.amount and credit.parent.subscription_item_details.proration is True
    assert invoice.amount_paid == credit.amount + charge.amount > 0  # about half of $30 - $10


async def test_a_price_change_with_create_prorations_waits_for_the_next_invoice(client, stripe_server, catalog):
    creator = await subscribe(client, stripe_server, [(catalog.studio_monthly.id, 1)])
    item = creator.subscription["items"].data[0]
    await stripe_server.advance(10 * 86400)
    await client.v1.subscriptions.update_async(creator.subscription.id, {
        "items": [{"id": item.id, "price": catalog.pro_monthly.id}]})  # create_prorations is the default
    assert len(await invoices_of(client, creator.subscription.id)) == 1
    await stripe_server.advance(to="period_end", subscription=creator.subscription.id)
    renewal = (await invoices_of(client, creator.subscription.id))[0]
    amounts = [line.amount for line in renewal.lines.data]
    assert amounts[0] == 1000 and amounts[1] < 0 < amounts[2] and renewal.total == sum(amounts) < 1000
    assert renewal.lines.data[1].parent.type == "invoice_item_details"


async def test_cancel_now_and_its_rules(client, stripe_server, subscribed, catalog):
    sub = await client.v1.subscriptions.cancel_async(subscribed.subscription.id)
    assert sub.status == "canceled" and sub.canceled_at == sub.ended_at
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.subscriptions.cancel_async(sub.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.subscriptions.update_async(sub.id, {"cancel_at_period_end": True})
    assert "canceled subscription" in info.value.user_message
    assert (await client.v1.subscriptions.update_async(sub.id, {"metadata": {"why": "test"}})).metadata.why == "test"


async def test_an_unknown_item_or_price_is_refused(client, subscribed):
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.subscriptions.update_async(subscribed.subscription.id,
                                                   {"items": [{"id": "si_nope", "price": "price_nope"}]})
    assert info.value.code == "resource_missing"
