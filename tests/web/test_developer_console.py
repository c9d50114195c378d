"""The developer console in a real browser: a key made on the page works with the API (real HTTP) and its use
shows in the chart and the jobs; revoking it (confirmed) shuts the API's door; the webhook secret is revealed and
rotated; the playground runs a preset on an uploaded image and shows its output; the API docs work offline."""

from __future__ import annotations

import base64
import re
from urllib.parse import urlsplit

from playwright.async_api import Page, expect

from tests.api.test_jobs import wait_until
from tests.helpers.images import png_bytes
from tests.web.browser import INTERNALS, assert_accessible, screenshot

CONSOLE_PAGE = "/creator/developers"
# The console shows the Developer API's routes on purpose (curl samples); its own JSON routes never.
CONSOLE_INTERNALS = [p for p in INTERNALS if p.pattern != r"/api/v1/"] + [re.compile(r"/creator/developers/")]


async def assert_no_internals(page: Page) -> None:
    text = await page.inner_text("body")
    found = [m.group(0) for pattern in CONSOLE_INTERNALS for m in [pattern.search(text)] if m]
    assert not found, f"the page shows internals {found}:\n{text[:2000]}"


async def create_key_on_page(page: Page, name: str, expiry: str = "In 30 days") -> str:
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Expires").select_option(label=expiry)
    await page.get_by_role("button", name="Create key").click()
    secret_box = page.get_by_label("New API key")
    await expect(secret_box).to_have_value(re.compile(r"^sk_"))
    return await secret_box.input_value()


async def test_a_key_made_on_the_page_works_with_the_api_and_its_use_shows_on_the_page(
        page, context, api_server, web_creator, clean_emulator):
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.goto(f"{api_server.url}{CONSOLE_PAGE}")
    await expect(page.get_by_role("heading", name="No API keys yet")).to_be_visible()
    await expect(page.get_by_text("No usage in this period yet")).to_be_visible()
    await screenshot(page, "developers-empty")

    secret = await create_key_on_page(page, "shop backend")
    await expect(page.get_by_text("it is shown only this once")).to_be_visible()
    await page.get_by_role("button", name="Copy").first.click()
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    row = page.get_by_role("row").filter(has_text="shop backend")
    await expect(row).to_contain_text(secret[:10])
    await expect(row).to_contain_text("Active")
    await expect(row).to_contain_text("Never")  # not used yet

    async with api_server.client(secret) as http:  # the key, used by a developer's app over real HTTP
        reply = await http.post("/api/v1/jobs", json={
            "preset": "quick_enhance", "image": {"base64": base64.b64encode(png_bytes(40, 30)).decode()}})
        assert reply.status_code == 202, reply.text
        job = await wait_until(http, reply.json()["id"])
    assert job["status"] == "succeeded", job

    await page.reload()
    row = page.get_by_role("row").filter(has_text="shop backend")
    await expect(row).not_to_contain_text("Never")  # last used: just now
    await expect(page.locator("#usage-legend")).to_contain_text("shop backend: 1 image")
    await expect(page.locator("#usage-chart rect")).to_have_count(1)  # one key, one day with use
    await page.get_by_label("Measure").select_option("jobs")
    await expect(page.locator("#usage-legend")).to_contain_text("shop backend: 1 job")
    jobs = page.locator("#jobs > li")
    await expect(jobs.first).to_contain_text("Succeeded")
    await expect(jobs.first).to_contain_text("quick_enhance")
    await expect(jobs.first).to_contain_text(job["id"])
    await jobs.first.get_by_text("Events (3)").click()
    await expect(jobs.first.locator("ol li")).to_have_count(3)
    await expect(jobs.first.get_by_role("img", name=re.compile("Output 1 of quick_enhance"))).to_be_visible()
    await screenshot(page, "developers")
    await assert_no_internals(page)
    await assert_accessible(page)


async def test_revoking_a_key_on_the_page_asks_first_then_the_api_refuses_it(page, api_server, web_creator):
    await page.goto(f"{api_server.url}{CONSOLE_PAGE}")
    secret = await create_key_on_page(page, "leaked key", expiry="Never")
    async with api_server.client(secret) as http:
        assert (await http.get("/api/v1/usage")).status_code == 200

        await page.get_by_role("button", name="Revoke leaked key").click()
        dialog = page.get_by_role("dialog", name="Revoke “leaked key”?")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("cannot be undone")
        await screenshot(page, "developers-revoke")
        await assert_accessible(page)
        await dialog.get_by_role("button", name="Cancel").click()
        assert (await http.get("/api/v1/usage")).status_code == 200  # cancelled: the key still works

        await page.get_by_role("button", name="Revoke leaked key").click()
        await dialog.get_by_role("button", name="Revoke key").click()
        row = page.get_by_role("row").filter(has_text="leaked key")
        await expect(row).to_contain_text("Revoked")
        await expect(page.get_by_role("button", name="Revoke leaked key")).to_have_count(0)
        refused = await http.get("/api/v1/usage")
    assert refused.status_code == 401


async def test_the_webhook_secret_is_revealed_and_rotated_on_the_page(page, api_server, web_creator):
    await page.goto(f"{api_server.url}{CONSOLE_PAGE}")
    await create_key_on_page(page, "hooks")
    await page.get_by_role("button", name="Webhook secret of hooks").click()
    dialog = page.get_by_role("dialog", name="Webhook signing secret of “hooks”")
    field = dialog.get_by_label("Webhook secret")
    await expect(field).not_to_have_value(re.compile("whsec_"))  # hidden until asked for
    await dialog.get_by_role("button", name="Reveal").click()
    await expect(field).to_have_value(re.compile(r"^whsec_"))
    old = await field.input_value()
    keys = (await web_creator.http.get("/creator/developers/keys")).json()["data"]
    [key] = [k for k in keys if k["name"] == "hooks"]
    stored = (await web_creator.http.get(f"/creator/developers/keys/{key['id']}/webhook-secret")).json()
    assert stored["webhook_secret"] == old

    await dialog.get_by_role("button", name="Rotate secret").click()
    await expect(dialog).to_contain_text("stops verifying deliveries")
    await dialog.get_by_role("button", name="Rotate now").click()
    await expect(dialog).to_contain_text("Rotated.")
    new = await field.input_value()
    assert new.startswith("whsec_") and new != old
    stored = (await web_creator.http.get(f"/creator/developers/keys/{key['id']}/webhook-secret")).json()
    assert stored["webhook_secret"] == new
    await screenshot(page, "developers-webhook")
    await assert_accessible(page)
    await assert_no_internals(page)


async def test_the_playground_runs_a_preset_on_an_uploaded_image_and_shows_the_output(
        page, api_server, web_creator, clean_emulator):
    await page.goto(f"{api_server.url}{CONSOLE_PAGE}")
    await create_key_on_page(page, "playground")
    await expect(page.locator("#pg-key")).not_to_have_value("")  # the key just made, filled in
    await page.get_by_label("Preset or workflow").select_option(label="Quick Enhance")
    await page.get_by_label("Input image").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": png_bytes(64, 48)})
    await page.get_by_label("scale").fill("2")
    curl = page.locator("#pg-curl")
    await expect(curl).to_contain_text('"params":{"scale":2}')
    await expect(curl).to_contain_text("file=@me.png")
    await expect(page.locator("#pg-python")).to_contain_text(
        'create_job(preset="quick_enhance", image=Path("me.png"), params={"scale": 2})')
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#pg-badge")).to_have_text("Succeeded", timeout=60_000)
    output = page.get_by_role("img", name=re.compile(r"^Output 1: "))
    await expect(output).to_be_visible()
    assert await output.evaluate("img => img.complete && img.naturalWidth") == 128  # the 2x output, loaded
    await expect(page.locator("#pg-status")).to_have_text("Done: 1 output")
    await expect(curl).not_to_contain_text("<upload id>")  # the samples name what was just run
    await expect(curl).not_to_contain_text("<job id>")
    await expect(page.locator("#jobs > li").first).to_contain_text("with “playground”")
    await create_key_on_page(page, "idle")
    await page.get_by_label("Jobs of").select_option(label="idle")
    await expect(page.get_by_role("heading", name="No jobs yet")).to_be_visible()
    await page.get_by_label("Jobs of").select_option(label="playground")
    await expect(page.locator("#jobs > li")).to_have_count(1)
    await screenshot(page, "developers-playground")
    await assert_no_internals(page)
    await assert_accessible(page)


async def test_the_playground_says_what_is_missing_in_plain_words(page, api_server, web_creator):
    await page.goto(f"{api_server.url}{CONSOLE_PAGE}")
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_role("alert")).to_have_text(re.compile("Give an API key to run with"))
    await page.locator("#pg-key").fill("sk_not_a_key")
    await page.get_by_label("Input image").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": png_bytes(16, 16)})
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_role("alert")).to_have_text("unknown, expired or revoked API key")
    await assert_no_internals(page)


async def test_the_api_docs_load_nothing_from_elsewhere_and_try_it_out_sends_the_key(page, api_server, make_key):
    created = await make_key()
    origin = urlsplit(api_server.url).netloc
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    await page.goto(f"{api_server.url}/docs")
    operation = page.locator("#operations-usage-read_usage_api_v1_usage_get")
    await expect(operation).to_be_visible()
    await page.get_by_role("button", name="Authorize").first.click()
    await page.locator(".modal-ux input").fill(created.secret)
    await page.locator(".modal-ux button.authorize").click()
    await page.locator(".modal-ux button.btn-done").click()
    await operation.locator(".opblock-summary").click()
    await operation.get_by_role("button", name="Try it out").click()
    async with page.expect_response(re.compile(r"/api/v1/usage$")) as answer:
        await operation.get_by_role("button", name="Execute").click()
    response = await answer.value
    await screenshot(page, "api-docs")
    assert response.status == 200
    assert (await response.request.all_headers())["authorization"] == f"Bearer {created.secret}"
    await page.goto(f"{api_server.url}/redoc")
    await expect(page.get_by_role("heading", name=re.compile("Comfy Platform"))).to_be_visible()
    await screenshot(page, "api-redoc")
    assert loaded and all(urlsplit(url).netloc == origin for url in loaded if not url.startswith("blob:")), loaded


async def test_a_session_that_ends_while_the_console_is_open_brings_the_sign_in_page(page, api_server, web_creator):
    await page.goto(f"{api_server.url}{CONSOLE_PAGE}")
    await expect(page.get_by_role("heading", name="No API keys yet")).to_be_visible()
    assert (await web_creator.http.post("/creator/auth/logout")).status_code == 204  # signed out elsewhere
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.get_by_role("link", name="Sign in with Google")).to_be_visible()
    await assert_no_internals(page)


async def test_the_playground_builds_a_template_s_form_from_its_schema_and_runs_it(
        page, api_server, web_creator, clean_emulator):
    await page.goto(f"{api_server.url}{CONSOLE_PAGE}")
    await create_key_on_page(page, "templates")
    await page.get_by_label("Preset or workflow").select_option(label="t2i_basic")
    names = await page.locator("#pg-param-fields [data-param]").evaluate_all("inputs => inputs.map(i => i.id)")
    assert names[:2] == ["pg-param-prompt", "pg-param-negative_prompt"]  # in the order the template declares
    await expect(page.get_by_label("Input image")).to_be_hidden()  # text to image takes none
    sampler = page.get_by_label("sampler")
    assert await sampler.evaluate("s => [...s.options].map(o => o.value)") == [
        "euler", "euler_ancestral", "dpmpp_2m", "ddim"]
    width = page.get_by_label("width")
    assert [await width.get_attribute(a) for a in ("min", "max", "step")] == ["64", "2048", "8"]
    await width.fill("70")  # not a multiple of 8: the page says so before anything is sent
    await page.get_by_role("button", name="Run").click()
    await expect(page.get_by_role("alert")).to_contain_text("width:")
    await width.fill("64")
    await page.get_by_label("height").fill("96")
    await page.get_by_label("steps").fill("2")
    await sampler.select_option("ddim")
    await expect(page.locator("#pg-python")).to_contain_text(
        'create_job(workflow="t2i_basic", params={"steps": 2, "sampler": "ddim", "width": 64, "height": 96})')
    await page.get_by_role("button", name="Run").click()
    await expect(page.locator("#pg-badge")).to_have_text("Succeeded", timeout=60_000)
    output = page.get_by_role("img", name=re.compile(r"^Output 1: "))
    assert await output.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 96]
