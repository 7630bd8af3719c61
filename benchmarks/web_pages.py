"""The caseworker web app on a weak connection, measured by Debian's Chromium: what each main
page transfers on a first visit (compressed, everything included) and how soon the directory
search is usable (DOMContentLoaded) at 400 kbit/s with a 400 ms round trip, first visit and
repeat visit."""

import statistics
import uuid

from playwright.async_api import BrowserContext, async_playwright

from benchmarks.support import Bench
from tests.e2e.flow import created, organisation_with_client, service_body
from web.tests.browser import CHROMIUM, CHROMIUM_ARGS, PHONE
from web.tests.support import PASSWORD, totp_code

SLOW = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8,
        "uploadThroughput": 400_000 / 8}
RUNS = 5
WEIGHT_SCRIPT = """() => {
  const entries = [...performance.getEntriesByType("navigation"),
                   ...performance.getEntriesByType("resource")];
  const sum = list => list.reduce((total, entry) => total + entry.encodedBodySize, 0);
  return [sum(entries), sum(entries.filter(entry => entry.name.endsWith(".js")))];
}"""
READY_SCRIPT = "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"


async def enrolled_person(bench: Bench) -> tuple[str, str]:
    organisation, headers = await organisation_with_client(
        bench.client, bench.admin, f"Bench web {uuid.uuid4().hex[:6]}", "JO"
    )
    for _ in range(20):
        await created(await bench.client.post(
            "/v1/services", headers=headers, json=service_body(organisation["id"], "JO", "Amman"),
        ))
    email = f"bench-{uuid.uuid4().hex[:8]}@example.org"
    invited = await created(await bench.client.post(
        f"/v1/organizations/{organisation['id']}/invitations", headers=headers,
        json={"email": email, "roles": ["caseworker"]},
    ))
    accepted = await created(await bench.client.post(
        f"/v1/invitations/{invited['accept_url'].rsplit('/', 1)[1]}",
        json={"name": "Bench Caseworker", "password": PASSWORD},
    ))
    return email, accepted["totp"]["secret"]


async def measure(bench: Bench) -> str:
    email, secret = await enrolled_person(bench)
    search = f"{bench.base_url}/services?q=support&country=JO"
    pages = {"sign-in": "/sign-in", "start": "/", "directory search": search[len(bench.base_url):],
             "cases": "/cases", "new case": "/cases/new", "referrals": "/referrals"}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        signed = await browser.new_context(viewport=PHONE)
        page = await signed.new_page()
        await page.goto(f"{bench.base_url}/sign-in")
        await page.fill("#email", email)
        await page.fill("#password", PASSWORD)
        await page.fill("#code", totp_code(secret))
        await page.click("form[action='/sign-in'] button[type=submit]")
        await page.wait_for_url(f"{bench.base_url}/")
        cookies = await signed.cookies()

        async def fresh() -> BrowserContext:
            context = await browser.new_context(viewport=PHONE)
            # what cookies() gives, add_cookies() takes; playwright names the two types apart
            await context.add_cookies(cookies)  # type: ignore[arg-type]
            return context

        weights = {}
        for name, path in pages.items():
            context = await fresh()
            visit = await context.new_page()
            await visit.goto(bench.base_url + path)
            weights[name] = await visit.evaluate(WEIGHT_SCRIPT)
            await context.close()

        first, repeat = [], []
        for _ in range(RUNS):
            context = await fresh()
            visit = await context.new_page()
            cdp = await context.new_cdp_session(visit)
            await cdp.send("Network.enable")
            await cdp.send("Network.emulateNetworkConditions", SLOW)
            await visit.goto(search, wait_until="domcontentloaded")
            first.append(await visit.evaluate(READY_SCRIPT))
            await visit.goto(search, wait_until="domcontentloaded")
            repeat.append(await visit.evaluate(READY_SCRIPT))
            await context.close()
        await browser.close()

    rows = "\n".join(
        f"| {name} | {total / 1024:.1f} KB | {script / 1024:.1f} KB |"
        for name, (total, script) in weights.items()
    )
    return f"""## Caseworker web app: page weight and a slow connection

What a first visit transfers (compressed bodies of the page and everything it loads, from the
browser's Performance API; the budget is 100 KB, of which 30 KB script), signed in as a
caseworker, phone-sized window:

| page | transferred | of which script |
|---|---|---|
{rows}

The directory search (`/services?q=support&country=JO`, 20 matching services) with the
network emulated at 400 kbit/s and 400 ms round trip (Chrome DevTools), median of {RUNS}:
DOMContentLoaded after **{statistics.median(first) / 1000:.2f} s** on a first visit (target 5 s)
and **{statistics.median(repeat) / 1000:.2f} s** on a repeat visit (target 2 s; the page itself is
never cached, it holds personal data, the stylesheet and script come from the cache).
"""
