"""In a real browser (Debian's Chromium): the installed app keeps the directory pages a
caseworker opened and her country's whole directory for searching offline, says that she is
offline and how old its results are, never keeps a case or a referral, and forgets everything
when she signs out."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.support import Network
from web.tests.browser import browser, browser_storage, phone, sign_in  # noqa: F401
from web.tests.support import Caseworker, create_service
from web.tests.test_browser_caseworker import (
    first_load_weight, open_case, record_consent, serious_violations,
)

NEPAL = "Nepal Red Cross Society"
JORDAN = "Jordan National Red Crescent Society"
SHELTER = "Night shelter kept for offline search (demo)"

CACHED_URLS_SCRIPT = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) { urls.push(request.url); }
  }
  return urls;
}"""


@pytest.fixture(scope="module")
def shelter(network: Network) -> dict[str, Any]:
    return create_service(network.base_url, Path(network.data_dir), JORDAN, SHELTER)


def cached_paths(page: Page, base_url: str) -> list[str]:
    return [url.removeprefix(base_url) for url in page.evaluate(CACHED_URLS_SCRIPT)]


CONTROLLED_SCRIPT = """async () => {
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise(done => navigator.serviceWorker.addEventListener("controllerchange", done));
  }
  return true;
}"""


def controlled_by_the_worker(page: Page) -> None:
    assert page.evaluate(CONTROLLED_SCRIPT)


def refer(page: Page, case_id: str, service_id: str) -> str:
    page.click(f"a[href^='/services?for_case={case_id}']")
    page.fill("#q", "shelter")
    page.select_option("#country", "JO")
    page.click("form.search button[type=submit]")
    page.get_by_role("link", name=SHELTER).click()
    page.click(f"a[href='/cases/{case_id}?service={service_id}#refer']")
    page.check("input[name=shared_fields][value=given_name]")
    page.select_option("#urgency", "high")
    page.fill("#reason", "Needs a safe place tonight.")
    page.click("button[value=preview]")
    page.click("button[value=send]")
    page.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    return page.url


def test_the_app_is_installable(network: Network) -> None:
    base = network.base_url
    manifest = httpx.get(f"{base}/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    app = manifest.json()
    assert (app["display"], app["start_url"], app["scope"]) == ("standalone", "/", "/")
    for icon in app["icons"]:
        image = httpx.get(base + icon["src"])
        assert image.status_code == 200 and image.headers["content-type"] == icon["type"]
    worker = httpx.get(f"{base}/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache"
    offline = httpx.get(f"{base}/offline")
    assert "You are offline" in offline.text and offline.headers["cache-control"] == "no-store"


def test_offline_the_directory_is_searched_and_a_case_needs_a_connection(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
    shelter: dict[str, Any],
) -> None:
    base = network.base_url
    context = phone(browser, "en")
    page = context.new_page()
    sign_in(page, base, caseworker(NEPAL, "Kamala Rai"), "en")
    controlled_by_the_worker(page)

    # Online she searches the directory, opens a service, then a case she refers.
    search = f"{base}/services?q=shelter&country=JO"
    page.goto(search)
    page.get_by_role("link", name=SHELTER).click()
    service = page.url
    case_id = open_case(page, base, "Dolma", "Lama")
    record_consent(page)
    referral = refer(page, case_id, shelter["id"])

    # The worker kept the shell, the directory pages (hers and her country's), nothing else.
    kept = cached_paths(page, base)
    for path in (search, service, f"{base}/offline/directory.json", f"{base}/offline/search",
                 f"{base}/offline"):
        assert path.removeprefix(base) in kept, kept
    assert all(path.startswith(("/services", "/static/", "/offline")) for path in kept), kept
    assert not any("for_case" in path or "for_referral" in path for path in kept), kept
    stored = browser_storage(page)
    assert "Dolma" not in stored and "Lama" not in stored and "safe place" not in stored
    assert case_id not in stored and referral.rsplit("/", 1)[1] not in stored

    # Offline, the search and the service come from the cache, with the offline notice.
    context.set_offline(True)
    page.goto(search)
    expect(page.get_by_role("link", name=SHELTER)).to_be_visible()
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#offline")).to_contain_text("You are offline")
    page.goto(service)
    expect(page.locator("h1")).to_have_text(SHELTER)
    expect(page.locator("#offline")).to_be_visible()

    # A case and a referral need a connection: the offline page, not what was seen before.
    for private in (f"{base}/cases/{case_id}", referral):
        page.goto(private)
        expect(page.locator("h1")).to_have_text("You are offline")
        expect(page.locator("main")).not_to_contain_text("Dolma")

    assert serious_violations(page) == []

    # Back online, she signs out: the sign-out answer alone leaves nothing of the app. The
    # sign-in page it leads to gets an empty script (its own also forgets), and that script
    # came from the network: no worker answered it.
    context.set_offline(False)
    page.goto(f"{base}/services")
    scripts_from_the_network = []
    context.route(re.compile(r"/static/app\.[0-9a-f]+\.js$"), lambda route: (
        scripts_from_the_network.append(route.request.url),
        route.fulfill(body="", content_type="text/javascript")))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/sign-in\?signed_out=true$"))
    page.wait_for_load_state("load")
    assert scripts_from_the_network
    assert page.evaluate("caches.keys()") == []
    assert page.evaluate("navigator.serviceWorker.getRegistrations()") == []
    context.close()


RIVERSIDE = "Bagmati riverside night shelter (demo)"
KEPT_SCRIPT = """async (paths) => {
  const kept = [];
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) { kept.push(new URL(request.url).pathname); }
  }
  return paths.every(path => kept.includes(path));
}"""


def test_offline_she_finds_a_service_of_her_country_she_never_opened(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
    shelter: dict[str, Any],
) -> None:
    base = network.base_url
    riverside = create_service(base, Path(network.data_dir), NEPAL, RIVERSIDE,
                               ("NP", "Kathmandu", 27.70, 85.32), ("shelter.emergency",))
    context = phone(browser, "en")
    page = context.new_page()
    sign_in(page, base, caseworker(NEPAL, "Kamala Rai"), "en")
    controlled_by_the_worker(page)
    case_id = open_case(page, base, "Pema", "Sherpa")
    # Without opening any directory page, the worker keeps her country's directory.
    page.wait_for_function(KEPT_SCRIPT, arg=["/offline/directory.json", "/offline/search"])
    page.goto(f"{base}/offline/search")
    weight = first_load_weight(page)
    assert 0 < weight["script"] <= 30 * 1024 and weight["total"] <= 100 * 1024, weight

    context.set_offline(True)
    page.goto(f"{base}/services?q=RIVERSIDE")  # a word of the name, in other letter case
    expect(page.get_by_role("link", name=RIVERSIDE)).to_be_visible()
    expect(page.locator("#offline-notice")).to_contain_text(
        "Offline: results from the directory of Nepal as it was on")
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#q")).to_have_value("RIVERSIDE")
    expect(page.locator("#offline-count")).to_have_text("1")

    page.goto(f"{base}/services?category=shelter")  # a category above the service's own
    expect(page.get_by_role("link", name=RIVERSIDE)).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Safe shelter for survivors"))).to_be_visible()
    expect(page.locator("#offline-results")).not_to_contain_text("Legal aid")
    expect(page.locator("#offline-results")).not_to_contain_text(SHELTER)  # Jordan's
    expect(page.locator("#category")).to_have_value("shelter")
    assert serious_violations(page) == []

    page.get_by_role("link", name=RIVERSIDE).click()
    page.wait_for_url(f"{base}/services/{riverside['id']}")
    expect(page.locator("#offline-results li.card")).to_have_count(1)
    expect(page.locator("#offline-results")).to_contain_text("Kathmandu, Nepal")
    expect(page.locator("#offline-results")).to_contain_text("Answers within 24 hours")

    page.goto(f"{base}/services?q=shelter&country=JO")
    expect(page.locator("#offline-elsewhere")).to_be_visible()
    expect(page.locator("#offline-count")).to_have_text("0")

    stored = browser_storage(page)
    assert RIVERSIDE in stored
    assert "Pema" not in stored and "Sherpa" not in stored and case_id not in stored

    context.set_offline(False)
    page.goto(f"{base}/services")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/sign-in\?signed_out=true$"))
    page.wait_for_load_state("load")
    assert page.evaluate("caches.keys()") == []
    assert browser_storage(page) == ""
    context.close()
