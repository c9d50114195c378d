"""The layout every page shares, its security headers and CSRF protection, seen from a real browser."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.web.browser import assert_accessible, assert_no_internals, screenshot


async def test_a_visitor_sees_the_sign_in_page_and_signs_in(page, api_server, web_creator):
    await page.goto(f"{api_server.url}/creator/")
    assert await page.get_by_role("navigation", name="Main").is_visible()
    assert await page.get_by_text(web_creator.email, exact=True).is_visible()
    await assert_no_internals(page)
    await assert_accessible(page)


async def test_the_sign_in_page(context, api_server):
    page = await context.new_page()
    await page.goto(f"{api_server.url}/creator/")
    assert await page.get_by_role("link", name="Sign in with Google").is_visible()
    await screenshot(page, "sign-in")
    await assert_no_internals(page)
    await assert_accessible(page)


async def test_pages_carry_security_headers_and_refuse_a_change_without_the_csrf_token(api_server, web_creator):
    page = await web_creator.http.get("/creator/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    cookies = dict(web_creator.http.cookies)
    async with httpx.AsyncClient(base_url=api_server.url, cookies=cookies) as forged:
        refused = await forged.post("/creator/sync-now")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        wrong = await forged.post("/creator/sync-now", headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403
        form = await forged.post("/creator/auth/logout", data={"csrf_token": web_creator.http.headers["x-csrf-token"]})
        assert form.status_code == 204  # a form's hidden field does as well as the header


async def test_a_cancelled_sign_in_says_so_in_plain_words(context, api_server, oidc_provider):
    page = await context.new_page()
    await page.goto(f"{api_server.url}/creator/")
    await page.get_by_role("link", name="Sign in with Google").click()
    await page.get_by_role("button", name="Deny access").click()
    await expect(page.get_by_role("heading", name="You are not signed in")).to_be_visible()
    await expect(page.get_by_text("Google sign-in was cancelled")).to_be_visible()
    await assert_no_internals(page)
    await assert_accessible(page)
