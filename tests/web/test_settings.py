"""The settings page in a real browser: the preset's parameters as form fields, saved and used by the next sync;
emails turned off; deleting the account says what goes."""

from __future__ import annotations

import re

from playwright.async_api import expect

from db import jobs as job_queries
from tests.fixtures.creator import photo
from tests.web.browser import assert_accessible, assert_no_internals, screenshot


async def test_settings_are_saved_and_the_next_sync_uses_them(page, api_server, web_creator):
    folder = await web_creator.folder("Studio")
    await web_creator.watch(folder, "portrait_pro")
    await page.goto(f"{api_server.url}/creator/settings")
    await expect(page.get_by_label("Preset")).to_have_value("portrait_pro")
    await screenshot(page, "settings")
    await assert_accessible(page)

    shown = page.locator(".preset-params:visible")  # the fields of the preset chosen
    denoise = shown.get_by_label(re.compile("^Denoise"))
    await denoise.fill("7")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("alert")).to_contain_text("Denoise must be a number between")
    await assert_no_internals(page)

    await denoise.fill("0.6")
    await shown.get_by_label(re.compile("^Steps")).fill("12")
    await page.get_by_label(re.compile("^Folder for edited photos")).fill("Retouched")
    await page.get_by_label("No emails about photos").check()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("Saved. The next sync uses these settings.")).to_be_visible()

    await page.reload()  # what was saved is what the page shows
    await expect(denoise).to_have_value("0.6")
    await expect(page.get_by_label(re.compile("^Folder for edited photos"))).to_have_value("Retouched")
    assert await page.get_by_label("No emails about photos").is_checked()

    await web_creator.drop(folder, "model.png", photo(3))
    await web_creator.sync_and_wait()
    (edited,) = [f for f in await web_creator.files() if f["status"] == "succeeded"]
    async with web_creator.platform.sessionmaker() as session:
        job = await job_queries.get_job(session, edited["job_id"])
    assert job.params["denoise"] == 0.6 and job.params["steps"] == 12
    retouched = [f for f in await web_creator.drive_server.files(web_creator.sub) if f["name"] == "Retouched"]
    assert len(retouched) == 1 and folder in retouched[0]["parents"]
    assert edited["output_file_id"] in {f["id"] for f in await web_creator.outputs(retouched[0]["id"])}
    assert await web_creator.sent_emails() == []  # photo emails are off


async def test_deleting_the_account_says_what_goes_and_then_signs_out(page, api_server, web_creator):
    await page.goto(f"{api_server.url}/creator/settings")
    await page.get_by_role("button", name="Delete account…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("your API keys, jobs, uploaded and generated images, and usage records")
    await expect(dialog).to_contain_text("your photos and edited photos in Google Drive stay where they are")
    await screenshot(page, "settings-delete-account")
    await page.get_by_role("button", name="Keep my account").click()
    assert (await web_creator.http.get("/creator/me")).status_code == 200
    await page.get_by_role("button", name="Delete account…").click()
    await page.get_by_role("button", name="Delete everything").click()
    await expect(page.get_by_role("link", name="Sign in with Google")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("Your account is being deleted")
    await screenshot(page, "account-deleted")
    assert (await web_creator.http.get("/creator/me")).status_code == 401


async def test_disconnecting_drive_stops_syncing_and_the_dashboard_starts_over(page, api_server, web_creator):
    await web_creator.watch(await web_creator.folder("Old shoot"))
    await page.goto(f"{api_server.url}/creator/settings")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Disconnect Google Drive").click()
    await page.wait_for_url(f"{api_server.url}/creator/")
    await expect(page.get_by_role("heading", name="Set up in three steps")).to_be_visible()
    assert (await web_creator.http.get("/creator/drive/watch")).status_code == 404
    await page.goto(f"{api_server.url}/creator/settings")
    assert await page.get_by_role("button", name="Disconnect Google Drive").is_disabled()
    assert await page.get_by_label("Preset").is_disabled()
