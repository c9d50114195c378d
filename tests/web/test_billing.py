"""The billing page in a real browser: upgrading through Stripe Checkout (the Stripe test server's hosted page)
with a card that pays and one that is declined, and the plan and use shown afterwards."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.helpers.billing import until_subscription
from tests.web.browser import assert_accessible, assert_no_internals, screenshot


async def pay_on_checkout_page(page: Page, card: str) -> None:
    await page.get_by_label("Card number").fill(card)
    await page.get_by_label("Expiry (MM / YY)").fill("12 / 34")
    await page.get_by_label("CVC").fill("123")
    await page.get_by_label("Name on card").fill("Ana Creator")
    await page.get_by_role("button", name="Subscribe").click()


async def test_upgrading_with_a_declined_card_then_a_paying_one(page, api_server, platform, web_creator):
    await page.goto(f"{api_server.url}/creator/billing")
    await expect(page.locator("#plan-status")).to_have_text("Free")
    await expect(page.get_by_text("No invoices yet.")).to_be_visible()
    await screenshot(page, "billing-free")
    await assert_accessible(page)

    upgrade = page.get_by_role("button", name=re.compile("^Upgrade to Creator"))
    await upgrade.click()
    await page.wait_for_url(re.compile(r"/c/pay/"))
    await pay_on_checkout_page(page, "4000000000000002")  # declined
    await expect(page.get_by_text(re.compile("declined", re.I))).to_be_visible()
    await pay_on_checkout_page(page, "4242424242424242")
    await page.wait_for_url(re.compile(r"/creator/billing\?checkout=success"))
    await expect(page.get_by_role("status").filter(has_text="Your payment went through")).to_be_visible()

    await until_subscription(platform, web_creator.user_id, lambda s: s.status == "active")
    await page.goto(f"{api_server.url}/creator/billing")
    await expect(page.locator("#plan-title")).to_have_text("Creator")
    await expect(page.locator("#plan-status")).to_have_text("Active")
    await expect(page.get_by_role("button", name="Manage plan and card")).to_be_visible()
    await expect(page.get_by_role("link", name="View invoice").first).to_be_visible()
    await screenshot(page, "billing-active")
    await assert_no_internals(page)
    await assert_accessible(page)
