"""The dashboard in a real browser: the first-run path, photos going from waiting to edited live, a failure in
plain words retried, and an output folder that cannot be watched."""

from __future__ import annotations

import asyncio
import re
import time

from playwright.async_api import Page, expect

from tests.fixtures.creator import photo
from tests.web.browser import assert_accessible, assert_no_internals, screenshot

# Records every status each photo of the page shows, as the page changes (server-sent events included).
WATCH_STATUSES = """() => {
  window.seenStatuses = {};
  const note = (item) => {
    const id = item.dataset.photo, status = item.dataset.status;
    const seen = (window.seenStatuses[id] = window.seenStatuses[id] || []);
    if (seen[seen.length - 1] !== status) seen.push(status);
  };
  document.querySelectorAll("[data-photo]").forEach(note);
  new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach((n) => {
    if (n.nodeType === 1 && n.dataset.photo) note(n);
  }))).observe(document.getElementById("photos"), {childList: true, subtree: true});
}"""


async def wait_for_statuses(page: Page, done, timeout_s: float = 30) -> list[str]:
    """The statuses the page's one photo showed, once `done(them)` (the page's CSP forbids wait_for_function)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = await page.evaluate("() => Object.values(window.seenStatuses)[0] || []")
        if done(seen) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.1)


async def start_watching(page: Page, folder: str, look: str) -> None:
    await page.get_by_label("Pick the folder you put photos in").select_option(label=folder)
    await page.get_by_label(look).check()
    await page.get_by_role("button", name="Start watching").click()
    await expect(page.locator("#watch-folder")).to_have_text(folder)


async def test_first_run_then_the_watch_stays_chosen_after_a_reload(page, api_server, web_creator):
    shoot = await web_creator.folder("Shoot")
    await web_creator.folder("Holidays")
    await page.goto(f"{api_server.url}/creator/")
    await expect(page.get_by_role("heading", name="Set up in three steps")).to_be_visible()
    assert await page.get_by_role("button", name="Start watching").is_disabled()  # no folder chosen yet
    await screenshot(page, "dashboard-first-run")
    await assert_accessible(page)

    await start_watching(page, "Shoot", "Cinematic")
    await expect(page.locator("#watch-preset")).to_have_text("Cinematic")
    await expect(page.get_by_role("heading", name="No photos yet")).to_be_visible()
    await screenshot(page, "dashboard-empty")

    await page.reload()
    await page.get_by_role("button", name="Change folder or look").click()
    folder = page.get_by_label("Pick the folder you put photos in")
    await expect(folder).to_be_enabled()
    await expect(folder).to_have_value(shoot)
    options = await folder.locator("option").all_inner_texts()
    assert not [o for o in options if "Edited Photos" in o], options  # the output folder is never offered
    assert await page.get_by_label("Cinematic").is_checked()
    await assert_no_internals(page)


async def test_photos_go_from_waiting_to_edited_live_and_a_failure_is_plain_and_retried(page, api_server,
                                                                                        web_creator):
    folder = await web_creator.folder("Wedding")
    await web_creator.watch(folder, "portrait_pro")
    await page.goto(f"{api_server.url}/creator/")
    await expect(page.get_by_role("heading", name="No photos yet")).to_be_visible()
    await page.evaluate(WATCH_STATUSES)
    for n in range(3):
        await web_creator.drop(folder, f"guest_{n}.png", photo(n))
    await web_creator.drop(folder, "broken.png", b"\x89PNG\r\n\x1a\n not really a png")

    await page.get_by_role("button", name="Sync now").click()
    await expect(page.get_by_role("status").filter(has_text="Sync started")).to_be_visible()
    edited = page.locator('[data-status="edited"]')
    await expect(edited).to_have_count(3, timeout=60_000)
    failed = page.locator('[data-status="failed"]')
    await expect(failed).to_have_count(1, timeout=30_000)
    await expect(failed).to_contain_text("could not be opened as a photo")
    await expect(page.get_by_role("button", name="Sync now")).to_be_enabled(timeout=30_000)  # the sync ended
    await expect(page.locator("#last-sync")).not_to_have_text("Not yet")
    seen = await page.evaluate("window.seenStatuses")
    for statuses in seen.values():
        if statuses[-1] == "edited":
            assert statuses[0] in ("waiting", "processing"), statuses  # seen on its way, not only at the end
    await expect(edited.first.get_by_role("link", name=re.compile("Open"))).to_be_visible()
    # Before and after thumbnails, loaded through links made for this account.
    for n in range(3):
        for side in ("before", "after"):
            image = page.get_by_role("img", name=f"guest_{n}.png {side}")
            await expect(image).to_be_visible()
            assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
    link = await page.get_by_role("img", name="guest_0.png after").get_attribute("src")
    assert (await web_creator.http.get(link)).headers["content-type"] == "image/jpeg"
    assert (await web_creator.http.get(link.replace("sig=", "sig=0"))).status_code == 403
    await screenshot(page, "dashboard-photos")
    await assert_no_internals(page)
    await assert_accessible(page)

    await page.get_by_role("button", name=re.compile("^Failed")).click()
    await expect(page.locator("[data-photo]")).to_have_count(1)
    await page.evaluate(WATCH_STATUSES)
    await failed.get_by_role("button", name="Retry broken.png").click()
    await expect(page.get_by_text("Trying that photo again.")).to_be_visible()
    # The same bytes fail again, and say so again; the photo went back to work in between.
    statuses = await wait_for_statuses(page, lambda seen: len(seen) >= 3 and seen[-1] == "failed")
    assert statuses[0] == "failed" and set(statuses[1:-1]) <= {"waiting", "processing"}, statuses
    await expect(failed).to_contain_text("could not be opened as a photo")
    await screenshot(page, "dashboard-failed-filter")


async def test_a_refused_drive_grant_pauses_syncing_and_the_dashboard_says_what_to_do(page, api_server, web_creator,
                                                                                      oidc_provider):
    folder = await web_creator.folder("Trip")
    await web_creator.watch(folder)
    await web_creator.drop(folder, "beach.png", photo(11))
    await web_creator.sync_revoked_midway(oidc_provider, "files.list")  # Google withdraws access mid-sync
    await page.goto(f"{api_server.url}/creator/")
    await expect(page.get_by_role("alert").filter(has_text="Google Drive stopped letting us in")).to_be_visible()
    await expect(page.get_by_role("link", name="Sign in again to reconnect")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_count(1)  # said once, not once per part of the page
    await expect(page.get_by_role("button", name="Sync now")).to_be_disabled()
    await screenshot(page, "dashboard-reconnect")
    await assert_no_internals(page)
    await assert_accessible(page)
