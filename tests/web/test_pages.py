"""The presets gallery, the quota reached with photos waiting, and an output folder refused, in a real browser."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.fixtures.creator import photo
from tests.helpers.billing import buy, until_subscription
from tests.web.browser import assert_accessible, assert_no_internals, screenshot


async def test_the_gallery_shows_every_preset_and_switches_the_look(page, api_server, web_creator):
    folder = await web_creator.folder("Products")
    await web_creator.watch(folder, "portrait_pro")
    await page.goto(f"{api_server.url}/creator/gallery")
    for title in ("Portrait Pro", "Cinematic", "Product Glow", "Quick Enhance"):
        await expect(page.get_by_role("heading", name=re.compile(title))).to_be_visible()
        await expect(page.get_by_role("img", name=f"Example photo after {title}")).to_be_visible()
    await screenshot(page, "presets-gallery")
    await assert_accessible(page)
    await assert_no_internals(page)

    glow = page.locator('form[data-preset="product_glow"]')
    await glow.get_by_label(re.compile("^Steps")).fill("20")
    await glow.get_by_role("button", name="Use Product Glow").click()
    await expect(page.get_by_text("Product Glow is used from the next sync on.")).to_be_visible()
    shown = (await web_creator.http.get("/creator/drive/watch")).json()
    assert (shown["preset"], shown["preset_title"], shown["preset_params"]) == \
        ("product_glow", "Product Glow", {"steps": 20})


async def test_past_the_months_photos_new_photos_wait_and_the_dashboard_says_so(page, api_server, platform,
                                                                                stripe_server, web_creator):
    await buy(web_creator, stripe_server, "creator")  # the test plans' Creator plan: two photos a month
    await until_subscription(platform, web_creator.user_id, lambda s: s.status == "active")
    folder = await web_creator.folder("Party")
    await web_creator.watch(folder)
    for n in range(3):
        await web_creator.drop(folder, f"party_{n}.png", photo(40 + n))
    await web_creator.sync_and_wait()

    await page.goto(f"{api_server.url}/creator/")
    await expect(page.locator("#quota-used")).to_have_text("2")
    await expect(page.get_by_text("This month's photos are used")).to_be_visible()
    waiting = page.locator('[data-status="waiting_for_quota"]')
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("Waiting for plan")
    await expect(waiting).to_contain_text("It is edited when your plan renews")
    await expect(page.locator('[data-status="edited"]')).to_have_count(2)
    await page.get_by_role("button", name=re.compile("^Waiting for plan")).click()
    await expect(page.locator("[data-photo]")).to_have_count(1)
    await screenshot(page, "dashboard-quota-reached")
    await assert_no_internals(page)
    await assert_accessible(page)


async def test_an_output_folder_cannot_be_watched_and_the_page_says_why(page, api_server, web_creator):
    folder = await web_creator.folder("Shoot")
    watched = await web_creator.watch(folder)
    await page.goto(f"{api_server.url}/creator/")
    answer = await page.evaluate("""async (id) => {
        try { await api("/creator/drive/watch", {method: "POST", body: {folder_id: id, preset: "cinematic"}}); }
        catch (e) { return {status: e.status, message: e.message}; }
    }""", watched["output_folder_id"])
    assert answer["status"] == 422 and "holds edited photos" in answer["message"], answer
    await page.get_by_role("button", name="Change folder or look").click()
    options = await page.get_by_label("Pick the folder you put photos in").locator("option").all_inner_texts()
    assert options == ["Shoot"]
