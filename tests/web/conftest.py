"""Browser fixtures: one Chromium per test session, a fresh context (cookies, storage) per test, and a creator
signed in through the local OpenID Connect provider's own pages, as a person would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.fixtures.creator import Creator
from tests.web.browser import CHROMIUM, CHROMIUM_FLAGS, DESKTOP


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    async with async_playwright() as playwright:
        # launch() gives the browser a fresh temporary profile (user-data-dir) of its own, removed on close.
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS,
                                                   headless=True)
        yield browser
        await browser.close()


@pytest_asyncio.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(15_000)
    yield context
    await context.close()


@pytest_asyncio.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def sign_in_in_browser(page: Page, base_url: str, oidc_provider, sub: str, email: str,
                             next_path: str = "/creator/") -> None:
    """Sign in from the sign-in page: "Sign in with Google", then the provider's consent page."""
    await oidc_provider.set_user(sub, {"email": email, "name": email.split("@")[0], "email_verified": True})
    await page.goto(f"{base_url}{next_path}")
    await page.get_by_role("link", name="Sign in with Google").click()
    await page.locator("input[name=sub]").fill(sub)
    await page.get_by_role("button", name="Authorize", exact=True).click()
    await page.wait_for_url(f"{base_url}{next_path}*")


@pytest_asyncio.fixture
async def web_creator(page: Page, api_server, platform, oidc_provider, creator_drive, smtp) \
        -> AsyncIterator[Creator]:
    """A creator signed in in `page`'s browser; `.http` is an httpx client with the same session (and its CSRF
    token), for arranging things the test does not do through the page."""
    sub = f"web-{uuid.uuid4().hex[:10]}"
    email = f"{sub}@example.com"
    await sign_in_in_browser(page, api_server.url, oidc_provider, sub, email)
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    async with httpx.AsyncClient(base_url=api_server.url, cookies=cookies, timeout=60,
                                 headers={"X-CSRF-Token": token}) as http:
        me = (await http.get("/creator/me")).json()
        yield Creator(sub, email, me["id"], http, creator_drive, platform)
