"""In a real browser (Debian's Chromium): a Nepali caseworker working in Arabic refers a person
to a Jordanian service, the Jordanian caseworker working in English accepts and completes it,
and the first sees the loop closed; then what the browser kept, escaping, the 404 page,
accessibility and page weight, and the refer and answer flows by keyboard alone."""

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.e2e.support import Network
from web.tests.browser import (  # noqa: F401
    PHONE, browser, browser_storage, phone, screenshot, sign_in,
)
from web.tests.support import Caseworker, create_service

NEPAL = "Nepal Red Cross Society"
JORDAN = "Jordan National Red Crescent Society"
SHELTER = "Transit shelter for migrant women (demo)"
PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


@pytest.fixture(scope="module")
def shelter(network: Network) -> dict[str, Any]:
    return create_service(network.base_url, Path(network.data_dir), JORDAN, SHELTER)


def open_case(page: Page, base_url: str, given_name: str, family_name: str) -> str:
    page.goto(f"{base_url}/cases/new")
    page.fill("#given_name", given_name)
    page.fill("#family_name", family_name)
    page.fill("#age_estimate", "27")
    page.select_option("#sex", "female")
    page.select_option("#nationality", "NP")
    page.select_option("#current_country", "JO")
    page.check("input[name=languages][value=ne]")
    page.fill("#safe_contact", "Messages only, never after 18:00")
    page.check("input[name=vulnerabilities][value=domestic_worker]")
    page.click("form[action='/cases/new'] button[type=submit]")
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def record_consent(page: Page, countries: tuple[str, ...] = ("JO",)) -> None:
    page.select_option("#legal_basis", "consent")
    page.select_option("#method", "verbal")
    for country in countries:
        page.check(f"input[name=scope_countries][value={country}]")
    page.click("form[action$='/consent'] button[type=submit]")
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}#refer$"))


def test_a_referral_goes_round_the_loop_in_two_languages(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
    shelter: dict[str, Any], tmp_path: Path,
) -> None:
    base = network.base_url
    sita = caseworker(NEPAL, "Sita Sharma")
    rania = caseworker(JORDAN, "Rania Haddad")
    nepal = phone(browser, "ar").new_page()
    jordan = phone(browser, "en").new_page()

    # Sita, in Arabic, looks for a shelter in Jordan.
    sign_in(nepal, base, sita, "ar")
    expect(nepal.locator("html")).to_have_attribute("dir", "rtl")
    screenshot(nepal, tmp_path, "start-ar")
    nepal.goto(f"{base}/services")
    nepal.fill("#q", "shelter")
    nepal.select_option("#country", "JO")
    nepal.click("form.search button[type=submit]")
    expect(nepal.get_by_role("link", name=SHELTER)).to_be_visible()
    screenshot(nepal, tmp_path, "services-ar")

    # She opens a case, records consent for Jordan, and chooses the shelter for the person.
    case_id = open_case(nepal, base, "Maya", "Gurung")
    record_consent(nepal)
    expect(nepal.locator("#consent-title + p")).to_contain_text("موافقة الشخص")
    nepal.click(f"a[href^='/services?for_case={case_id}']")
    nepal.fill("#q", "shelter")
    nepal.select_option("#country", "JO")
    nepal.click("form.search button[type=submit]")
    nepal.get_by_role("link", name=SHELTER).click()
    screenshot(nepal, tmp_path, "service-ar")
    nepal.click(f"a[href='/cases/{case_id}?service={shelter['id']}#refer']")

    # She shares the given name, languages and safe contact only, and previews before sending.
    for field in ("given_name", "languages", "safe_contact"):
        nepal.check(f"input[name=shared_fields][value={field}]")
    nepal.select_option("#urgency", "high")
    nepal.fill("#reason", "Needs a safe place tonight; left her employer's house.")
    nepal.click("button[value=preview]")
    preview = nepal.locator(".preview")
    expect(preview).to_contain_text("Maya")
    expect(preview).to_contain_text("Messages only, never after 18:00")
    expect(preview).not_to_contain_text("Gurung")
    screenshot(nepal, tmp_path, "refer-ar")
    nepal.click("button[value=send]")
    nepal.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    referral_url = nepal.url
    expect(nepal.locator(".badge.status-requested")).to_have_text("مطلوبة")

    # Rania, in English, finds it first on her start page, accepts it and completes it.
    sign_in(jordan, base, rania, "en")
    waiting = jordan.locator("section[aria-labelledby=waiting-title]")
    expect(waiting.locator("h2")).to_have_text(re.compile(r"^\d+ referrals? waits? for your answer$"))
    this_one = waiting.locator(f"a[href='{referral_url[len(base):]}']")
    expect(this_one).to_have_text(f"From {NEPAL}")
    screenshot(jordan, tmp_path, "start-en")
    this_one.click()
    person = jordan.locator("section[aria-labelledby=person-title]")
    expect(person).to_contain_text("Maya")
    expect(person).not_to_contain_text("Gurung")
    jordan.get_by_role("button", name="Accept").click()
    expect(jordan.locator(".badge.status-accepted")).to_have_text("Accepted")
    jordan.fill("#outcome-completed", "Placed in the transit shelter; legal counselling booked.")
    jordan.get_by_role("button", name="Complete the referral").click()
    expect(jordan.locator(".notice.done")).to_contain_text("Loop closed")
    screenshot(jordan, tmp_path, "referral-en")
    jordan.goto(f"{base}/")
    expect(waiting.locator(f"a[href='{referral_url[len(base):]}']")).to_have_count(0)

    # Sita sees the loop closed, with the outcome, in Arabic.
    nepal.goto(referral_url)
    expect(nepal.locator(".notice.done")).to_contain_text("اكتملت الحلقة")
    expect(nepal.locator(".notice.done")).to_contain_text("legal counselling booked")
    screenshot(nepal, tmp_path, "referral-ar")

    # Nothing of the person stayed in either browser's storage.
    for page in (nepal, jordan):
        kept = browser_storage(page)
        assert "Maya" not in kept and "Gurung" not in kept and "18:00" not in kept


def no_script_ran(page: Page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('script:not([src]), img[src=x]').length") == 0


def test_markup_in_names_comments_and_queries_is_shown_not_run(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
    shelter: dict[str, Any],
) -> None:
    base = network.base_url
    hostile = create_service(network.base_url, Path(network.data_dir), JORDAN, f"Night shelter {PAYLOAD}")
    sita = caseworker(NEPAL, "Sita Sharma")
    page = phone(browser, "en").new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, base, sita, "en")

    page.goto(f"{base}/services?" + str(httpx.QueryParams({"q": PAYLOAD})))
    expect(page.locator("#q")).to_have_value(PAYLOAD)
    no_script_ran(page)

    page.goto(f"{base}/services?q=night&country=JO")
    expect(page.get_by_role("link", name=f"Night shelter {PAYLOAD}")).to_be_visible()
    no_script_ran(page)
    page.goto(f"{base}/services/{hostile['id']}")
    expect(page.locator("h1")).to_have_text(f"Night shelter {PAYLOAD}")
    no_script_ran(page)

    case_id = open_case(page, base, PAYLOAD, "Tamang")
    expect(page.locator("section[aria-labelledby=person-title]")).to_contain_text(PAYLOAD)
    no_script_ran(page)
    record_consent(page)
    page.goto(f"{base}/cases/{case_id}?service={shelter['id']}")
    page.check("input[name=shared_fields][value=given_name]")
    page.fill("#reason", "Shelter needed.")
    page.click("button[value=preview]")
    expect(page.locator(".preview")).to_contain_text(PAYLOAD)
    no_script_ran(page)
    page.click("button[value=send]")
    page.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    page.fill("#text", f"Call first {PAYLOAD}")
    page.get_by_role("button", name="Send the message").click()
    expect(page.locator(".comments")).to_contain_text(f"Call first {PAYLOAD}")
    no_script_ran(page)
    assert dialogs == []


def test_another_organisations_case_is_the_same_404_as_a_missing_one(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
) -> None:
    base = network.base_url
    sita, rania = caseworker(NEPAL, "Sita Sharma"), caseworker(JORDAN, "Rania Haddad")
    nepal, jordan = phone(browser, "en").new_page(), phone(browser, "en").new_page()
    sign_in(nepal, base, sita, "en")
    case_id = open_case(nepal, base, "Maya", "Gurung")
    sign_in(jordan, base, rania, "en")

    theirs = jordan.goto(f"{base}/cases/{case_id}")
    theirs_text = jordan.locator("main").inner_text()
    missing = jordan.goto(f"{base}/cases/{uuid.uuid4()}")
    missing_text = jordan.locator("main").inner_text()
    garbled = jordan.goto(f"{base}/cases/not-a-case")

    assert theirs.status == missing.status == garbled.status == 404
    assert theirs_text == missing_text == jordan.locator("main").inner_text()
    assert "Maya" not in jordan.content() and "Not found" in theirs_text
    mine = nepal.goto(f"{base}/cases/{case_id}")
    assert mine.status == 200 and "Maya" in nepal.locator("main").inner_text()


PAGE_WEIGHT_SCRIPT = """() => {
  const entries = [...performance.getEntriesByType("navigation"),
                   ...performance.getEntriesByType("resource")];
  const script = entries.filter(entry => entry.initiatorType === "script" || entry.name.endsWith(".js"));
  const sum = list => list.reduce((total, entry) => total + entry.encodedBodySize, 0);
  return {total: sum(entries), script: sum(script), count: entries.length};
}"""


def first_load_weight(page: Page) -> dict[str, int]:
    """Compressed bytes of the page and everything it loaded, as a first visit transfers them."""
    return page.evaluate(PAGE_WEIGHT_SCRIPT)


def serious_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {node['target']}"
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical") for node in violation["nodes"]
    ]


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_main_pages_have_no_serious_accessibility_violation(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
    shelter: dict[str, Any], language: str, tmp_path: Path,
) -> None:
    base = network.base_url
    page = phone(browser, language).new_page()
    page.goto(f"{base}/sign-in?lang={language}")
    found = {"sign-in": serious_violations(page)}
    screenshot(page, tmp_path, f"sign-in-{language}")
    sign_in(page, base, caseworker(NEPAL, "Sita Sharma"), language)
    case_id = open_case(page, base, "Maya", "Gurung")
    record_consent(page)
    page.goto(f"{base}/cases/{case_id}?service={shelter['id']}")
    page.check("input[name=shared_fields][value=given_name]")
    page.fill("#reason", "Shelter needed.")
    page.click("button[value=preview]")
    found["refer"] = serious_violations(page)
    page.click("button[value=send]")
    page.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    found["referral"] = serious_violations(page)
    for name, address in {
        "start": "/", "services": "/services?q=shelter&country=JO",
        "services-map": "/services?q=shelter&country=JO&view=map",
        "service": f"/services/{shelter['id']}", "cases": "/cases", "new-case": "/cases/new",
        "case": f"/cases/{case_id}", "referrals": "/referrals", "not-found": "/cases/nothing",
    }.items():
        page.goto(base + address)
        found[name] = serious_violations(page)
        weight = first_load_weight(page)
        assert weight["count"] >= 3 and 0 < weight["script"] <= 30 * 1024, (name, weight)
        assert weight["total"] <= 100 * 1024, (name, weight)
    if language == "en":
        page.goto(f"{base}/cases/new")
        screenshot(page, tmp_path, "new-case-en")
    assert {name: problems for name, problems in found.items() if problems} == {}


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_network_admin_pages_have_no_serious_accessibility_violation(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
    language: str, tmp_path: Path,
) -> None:
    base = network.base_url
    page = phone(browser, language).new_page()
    sign_in(page, base, caseworker(NEPAL, "Nadia Network", ("network_admin",)), language)
    found = {}
    for name, address in {
        "verification": "/admin/organizations", "verified": "/admin/organizations?verified=true",
        "directory": "/admin/directory", "statistics": "/admin/statistics",
        "statistics-by-urgency": "/admin/statistics?group_by=urgency",
    }.items():
        page.goto(base + address)
        found[name] = serious_violations(page)
        weight = first_load_weight(page)
        assert weight["total"] <= 100 * 1024, (name, weight)
        screenshot(page, tmp_path, f"admin-{name}-{language}")
    page.goto(f"{base}/admin/directory")
    page.set_input_files("#file", files=[{
        "name": "broken.json", "mimeType": "application/json", "buffer": b'[{"name": ""}]',
    }])
    page.click("button[value=dry-run]")
    expect(page.locator("[role=alert]")).to_contain_text("broken.json")
    found["refused-import"] = serious_violations(page)
    assert {name: problems for name, problems in found.items() if problems} == {}


def tab_to(page: Page, selector: str, limit: int = 150) -> None:
    """Moves the focus with the Tab key alone until it reaches `selector`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"the Tab key never reaches {selector}")


def test_the_refer_and_answer_flows_work_by_keyboard_alone(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
    shelter: dict[str, Any],
) -> None:
    base = network.base_url
    nepal, jordan = phone(browser, "ar").new_page(), phone(browser, "en").new_page()
    sign_in(nepal, base, caseworker(NEPAL, "Sita Sharma"), "ar")
    case_id = open_case(nepal, base, "Maya", "Gurung")
    record_consent(nepal)

    nepal.goto(f"{base}/cases/{case_id}?service={shelter['id']}")
    tab_to(nepal, "input[name=shared_fields][value=given_name]")
    nepal.keyboard.press("Space")
    tab_to(nepal, "#reason")
    nepal.keyboard.type("Needs a safe place tonight.")
    tab_to(nepal, "button[value=preview]")
    nepal.keyboard.press("Enter")
    expect(nepal.locator(".preview")).to_contain_text("Maya")
    tab_to(nepal, "button[value=send]")
    nepal.keyboard.press("Enter")
    nepal.wait_for_url(re.compile(r"/referrals/[0-9a-f-]{36}$"))
    referral_url = nepal.url

    sign_in(jordan, base, caseworker(JORDAN, "Rania Haddad"), "en")
    jordan.goto(referral_url)
    tab_to(jordan, "form.answer:has(input[name=to][value=accepted]) button[type=submit]")
    jordan.keyboard.press("Enter")
    expect(jordan.locator(".badge.status-accepted")).to_be_visible()
    tab_to(jordan, "#outcome-completed")
    jordan.keyboard.type("Placed in the shelter.")
    tab_to(jordan, "form.answer:has(input[name=to][value=completed]) button[type=submit]")
    jordan.keyboard.press("Enter")
    expect(jordan.locator(".notice.done")).to_contain_text("Loop closed")


def test_an_admin_publishes_a_service_with_the_plain_form_told_what_was_refused(
    network: Network, browser: Browser, caseworker: Callable[..., Caseworker],  # noqa: F811
    tmp_path: Path,
) -> None:
    base = network.base_url
    context = browser.new_context(viewport=PHONE, locale="en", java_script_enabled=False)
    page = context.new_page()
    sign_in(page, base, caseworker(NEPAL, "Anita Admin", ("org_admin",)), "en")
    page.goto(f"{base}/settings/services/new")
    page.fill("#name", "Everest legal desk")
    page.get_by_label("Legal information and counselling", exact=True).check()
    page.fill("#location-0-city", "Kathmandu")
    page.fill("#location-0-latitude", "100")
    page.fill("#location-0-longitude", "85.3")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator("#location-0-latitude-error")).to_contain_text("90")
    expect(page.locator("#location-0-latitude")).to_have_value("100")
    expect(page.locator("#name")).to_have_value("Everest legal desk")
    expect(page.get_by_label("Legal information and counselling", exact=True)).to_be_checked()
    page.fill("#location-0-latitude", "27.7")
    page.get_by_role("button", name="Publish", exact=True).click()
    page.wait_for_url(re.compile(r"/services/[0-9a-f-]{36}$"))
    expect(page.locator("h1")).to_have_text("Everest legal desk")
    context.close()

    # Right to left, the form and its refusals have no serious accessibility violation.
    page = phone(browser, "ar").new_page()
    sign_in(page, base, caseworker(NEPAL, "Bina Admin", ("org_admin",)), "ar")
    page.goto(f"{base}/settings/services/new")
    assert page.get_attribute("html", "dir") == "rtl"
    found = {"new-service": serious_violations(page)}
    page.fill("#name", "مكتب قانوني")
    page.fill("#location-0-latitude", "100")
    page.click("button[value=save]")
    expect(page.locator("#categories .field-error")).to_contain_text("غير مقبول")
    expect(page.locator("#location-0-latitude")).to_have_attribute("aria-invalid", "true")
    found["refused-service"] = serious_violations(page)
    screenshot(page, tmp_path, "service-form-refused-ar")
    assert {name: problems for name, problems in found.items() if problems} == {}
    page.context.close()
