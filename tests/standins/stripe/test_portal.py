"""The customer portal: which plans it offers comes from a portal configuration; switching plan and
canceling on its page (form POSTs) and through the controls change the subscription as Stripe does."""

from __future__ import annotations

import httpx
import pytest
import stripe

from standins.stripe import ControlError

from .conftest import subscribe


async def plans_configuration(client, catalog, **cancel) -> stripe.billing_portal.Configuration:
    return await client.v1.billing_portal.configurations.create_async({
        "business_profile": {"headline": "Comfy plans"},
        "default_return_url": "https://app.test/account",
        "features": {
            "invoice_history": {"enabled": True},
            "subscription_cancel": {"enabled": True, **cancel},
            "subscription_update": {"enabled": True, "default_allowed_updates": ["price"],
                                    "proration_behavior": "none",
                                    "products": [{"product": catalog.pro.id,
                                                  "prices": [catalog.pro_monthly.id, catalog.studio_monthly.id]}]},
        }})


@pytest.fixture
async def creator(client, stripe_server, catalog):
    return await subscribe(client, stripe_server, [(catalog.pro_monthly.id, 1)])


async def portal_for(client, customer_id: str, configuration_id: str) -> stripe.billing_portal.Session:
    return await client.v1.billing_portal.sessions.create_async({"customer": customer_id,
                                                                 "configuration": configuration_id})


async def test_a_configuration_says_which_plans_the_portal_offers(client, catalog):
    configuration = await plans_configuration(client, catalog)
    assert configuration.id.startswith("bpc_") and configuration.is_default is False
    update = configuration.features.subscription_update
    assert update.enabled and update.default_allowed_updates == ["price"] and update.proration_behavior == "none"
    assert update.products[0].prices == [catalog.pro_monthly.id, catalog.studio_monthly.id]
    assert configuration.features.subscription_cancel.mode == "at_period_end"
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.billing_portal.configurations.create_async({"features": {"subscription_update": {
            "enabled": True, "default_allowed_updates": ["price"],
            "products": [{"product": catalog.pro.id, "prices": [catalog.api_metered.id]}]}}})
    assert "does not belong" in info.value.user_message


async def test_switching_plan_on_the_portal_page(client, stripe_server, catalog, creator):
    configuration = await plans_configuration(client, catalog)
    portal = await portal_for(client, creator.customer.id, configuration.id)
    assert portal.id.startswith("bps_") and portal.url == f"{stripe_server.url}/p/session/{portal.id}"
    assert portal.return_url == "https://app.test/account"
    async with httpx.AsyncClient() as http:
        page = await http.get(portal.url)
        assert page.status_code == 200 and "$30.00 / month" in page.text
        assert f'value="{catalog.studio_monthly.id}"' in page.text and "Cancel plan" in page.text
        answer = await http.post(f"{portal.url}/update", data={"subscription": creator.subscription.id,
                                                               "price": catalog.studio_monthly.id})
        assert answer.status_code == 303 and answer.headers["location"] == f"/p/session/{portal.id}?done=updated"
    sub = await client.v1.subscriptions.retrieve_async(creator.subscription.id)
    assert sub["items"].data[0].price.id == catalog.studio_monthly.id and sub.status == "active"
    assert sub["items"].data[0].id == creator.subscription["items"].data[0].id  # the same item, a new price
    updated = (await client.v1.events.list_async({"type": "customer.subscription.updated", "limit": 1})).data[0]
    assert updated.data.object.id == sub.id
    assert updated.data.previous_attributes["items"].data[0].price.id == catalog.pro_monthly.id
    # proration_behavior none: no invoice now
    assert len((await client.v1.invoices.list_async({"subscription": sub.id})).data) == 1


async def test_the_portal_cancels_at_period_end_and_can_renew(client, stripe_server, catalog, creator):
    configuration = await plans_configuration(client, catalog)
    portal = await portal_for(client, creator.customer.id, configuration.id)
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{portal.url}/cancel", data={"subscription": creator.subscription.id})
        assert answer.status_code == 303
        page = await http.get(portal.url + "?done=canceled")
    assert "Cancels on" in page.text and "Renew plan" in page.text
    sub = await client.v1.subscriptions.retrieve_async(creator.subscription.id)
    assert (sub.status, sub.cancel_at_period_end, sub.cancellation_details.reason) == (
        "active", True, "cancellation_requested")
    assert sub.canceled_at is not None
    renewed = await stripe_server.portal_renew(portal.id, sub.id)
    assert renewed["cancel_at_period_end"] is False and renewed["canceled_at"] is None


async def test_the_controls_do_what_the_page_does(client, stripe_server, catalog, creator):
    configuration = await plans_configuration(client, catalog, mode="immediately")
    portal = await portal_for(client, creator.customer.id, configuration.id)
    switched = await stripe_server.portal_switch(portal.id, creator.subscription.id, catalog.studio_monthly.id)
    assert switched["items"]["data"][0]["price"]["id"] == catalog.studio_monthly.id
    with pytest.raises(ControlError) as info:  # a price the configuration does not offer
        await stripe_server.portal_switch(portal.id, creator.subscription.id, catalog.api_metered.id)
    assert info.value.status == 400
    canceled = await stripe_server.portal_cancel(portal.id, creator.subscription.id)
    assert canceled["status"] == "canceled" and canceled["ended_at"] is not None
    deleted = (await client.v1.events.list_async({"type": "customer.subscription.deleted"})).data
    assert [e.data.object.id for e in deleted] == [creator.subscription.id]


async def test_a_subscription_with_a_metered_item_can_only_be_canceled_there(client, stripe_server, catalog,
                                                                             subscribed):
    configuration = await plans_configuration(client, catalog)
    portal = await portal_for(client, subscribed.customer.id, configuration.id)
    with pytest.raises(ControlError) as info:
        await stripe_server.portal_switch(portal.id, subscribed.subscription.id, catalog.studio_monthly.id)
    assert "several items" in info.value.error["message"]
    async with httpx.AsyncClient() as http:
        page = await http.get(portal.url)
    assert "several items can only be canceled here" in page.text and "Update plan" not in page.text


async def test_without_a_configuration_the_default_one_is_used(client, stripe_server, catalog, creator):
    with pytest.raises(stripe.InvalidRequestError) as info:
        await client.v1.billing_portal.sessions.create_async({"customer": creator.customer.id})
    assert "default configuration has not been created" in info.value.user_message
    made = await stripe_server.set_default_portal_configuration(features={
        "subscription_cancel": {"enabled": True},
        "subscription_update": {"enabled": True, "default_allowed_updates": ["price"],
                                "products": [{"product": catalog.pro.id,
                                              "prices": [catalog.pro_monthly.id, catalog.studio_monthly.id]}]}})
    assert made["is_default"] is True
    portal = await client.v1.billing_portal.sessions.create_async({"customer": creator.customer.id,
                                                                   "return_url": "https://app.test/back"})
    assert portal.configuration == made["id"] and portal.return_url == "https://app.test/back"
