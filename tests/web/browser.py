"""The browser of the web tests: Debian's Chromium driven by Playwright, screenshots at phone and desktop width,
the axe-core accessibility check run in the page, and what no page may show a creator."""

from __future__ import annotations

import re
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (make test installs it); never `playwright install`
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SCREENSHOTS = PROJECT_ROOT / "var" / "test-artifacts" / "screenshots"
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}

_axe = Axe()  # axe-core's axe.min.js as the package ships it: injected into the page, nothing fetched

# Text a creator must never read: Python exceptions, temp paths, internal routes, validation internals, ids.
INTERNALS = [re.compile(p) for p in (
    r"Traceback \(most recent call last\)", r"\b\w+(Error|Exception)\(", r"/tmp/", r"comfy-in-", r"<temp dir>",
    r"invalid_grant", r"pydantic", r"validation error", r"/creator/(drive|jobs|sync-now|billing/|auth/)",
    r"/api/v1/", r"\bNone\b", r"\bundefined\b", r"\bNaN\b", r"\[object Object\]")]


async def screenshot(page: Page, name: str) -> list[Path]:
    """Save the page as a phone (390x844) and a desktop (1280x800) would show it, full length, under
    var/test-artifacts/screenshots/ (make test keeps them as artifacts)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    paths = []
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.wait_for_timeout(50)  # a layout pass at the new width (not a wait for a result)
        path = SCREENSHOTS / f"{name}-{label}.png"
        await page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    if before:
        await page.set_viewport_size(before)
    return paths


async def assert_accessible(page: Page) -> None:
    """axe-core over the page as it is now; fails on any serious or critical violation, naming each."""
    results = await _axe.run(page)
    grave = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not grave, "accessibility violations:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}" for v in grave)


async def assert_no_internals(page: Page) -> None:
    """The page's visible text shows no exception text, temp path, internal route or raw value."""
    text = await page.inner_text("body")
    found = [m.group(0) for pattern in INTERNALS for m in [pattern.search(text)] if m]
    assert not found, f"the page shows internals {found}:\n{text[:2000]}"
