"""Debian's Chromium driven by Playwright, as a caseworker's phone would show the pages."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from web.tests.support import Caseworker

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE: ViewportSize = {"width": 390, "height": 844}
# `WAYMARK_SCREENSHOTS=docs/screenshots` keeps the screenshots the tests take there.
SCREENSHOTS = os.environ.get("WAYMARK_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def phone(browser: Browser, language: str) -> BrowserContext:
    return browser.new_context(viewport=PHONE, locale=language, device_scale_factor=1)


def sign_in(page: Page, base_url: str, person: Caseworker, language: str) -> None:
    page.goto(f"{base_url}/sign-in?lang={language}")
    page.fill("#email", person.email)
    page.fill("#password", person.password)
    page.fill("#code", person.code())
    page.click("form[action='/sign-in'] button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    """Every main page is photographed (and kept in the docs when asked)."""
    image = page.screenshot(full_page=True)
    assert len(image) > 1000
    (tmp_path / f"{name}.png").write_bytes(image)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        (Path(SCREENSHOTS) / f"{name}.png").write_bytes(image)


STORES_SCRIPT = """async () => {
  const found = [];
  for (const store of [localStorage, sessionStorage]) {
    for (let i = 0; i < store.length; i++) { found.push(store.key(i), store.getItem(store.key(i))); }
  }
  for (const database of await indexedDB.databases()) { found.push("indexedDB:" + database.name); }
  for (const name of await caches.keys()) {
    found.push("cache:" + name);
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      found.push(request.url, await (await cache.match(request)).text());
    }
  }
  return found.join("\\n");
}"""


def browser_storage(page: Page) -> str:
    """Everything the site keeps in the browser: both web storages, IndexedDB, Cache Storage."""
    stored: str = page.evaluate(STORES_SCRIPT)
    return stored
