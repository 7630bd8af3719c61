"""Pages that need no network behind them: headers, languages, static files, the sign-in
form, the not-found page and the way to sign-in for a visitor who is not signed in."""

import gzip
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from waymark_kernel.settings import Settings
from waymark_web.main import create_app
from waymark_web.security import masked, matches
from web.tests.support import matched

NOWHERE = "http://127.0.0.1:9"  # no page here may call the API


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(), NOWHERE)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_pages_carry_a_strict_policy_and_are_not_cached(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/sign-in")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "script-src 'self'" in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_nothing_is_loaded_from_another_origin(browser: httpx.AsyncClient) -> None:
    html = (await browser.get("/sign-in")).text
    for address in re.findall(r'(?:src|href|action)="([^"]*)"', html):
        assert address.startswith(("/", "#")), address
    assert "<script>" not in html
    assert " style=" not in html
    assert "onclick" not in html


async def test_lang_sets_the_language_and_remembers_it(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/sign-in?lang=ar")
    assert '<html lang="ar" dir="rtl">' in response.text
    assert "تسجيل الدخول" in response.text
    assert "lang=ar" in response.headers["set-cookie"]
    again = await browser.get("/sign-in", headers={"accept-language": "ru"})
    assert '<html lang="ar" dir="rtl">' in again.text


async def test_accept_language_is_the_default(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/sign-in", headers={"accept-language": "es-EC,es;q=0.9"})
    assert '<html lang="es" dir="ltr">' in response.text
    assert "Iniciar sesión" in response.text
    unknown = await browser.get("/sign-in?lang=xx", headers={"accept-language": "ru"})
    assert '<html lang="ru" dir="ltr">' in unknown.text
    assert "set-cookie" not in unknown.headers


async def test_static_files_have_hashed_names_long_caching_and_gzip(
    browser: httpx.AsyncClient,
) -> None:
    html = (await browser.get("/sign-in")).text
    stylesheet = matched(r'href="(/static/app\.[0-9a-f]{16}\.css)"', html)
    script = matched(r'src="(/static/app\.[0-9a-f]{16}\.js)"', html)
    for address in (stylesheet, script):
        response = await browser.get(address, headers={"accept-encoding": "gzip"})
        assert response.status_code == 200
        assert "immutable" in response.headers["cache-control"]
        assert "max-age=31536000" in response.headers["cache-control"]
        assert response.headers["content-encoding"] == "gzip"
        assert len(response.content) > 0
    raw = await browser.get(script, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < 30 * 1024


async def test_an_unknown_page_and_an_unknown_static_file_are_the_not_found_page(
    browser: httpx.AsyncClient,
) -> None:
    for address in ("/no-such-page", "/static/app.0000000000000000.css"):
        response = await browser.get(address + "?lang=fr")
        assert response.status_code == 404
        assert "Introuvable" in response.text
        assert response.headers["cache-control"] == "no-store"


async def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in_first(
    browser: httpx.AsyncClient,
) -> None:
    for address in ("/", "/cases", "/services?q=shelter", "/referrals/5c1f0f3e-0000-4000-8000-000000000000"):
        response = await browser.get(address)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in?next=/")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"])
async def test_sign_in_returns_only_to_a_page_of_this_site(
    browser: httpx.AsyncClient, target: str
) -> None:
    html = (await browser.get("/sign-in", params={"next": target})).text
    assert 'name="next" value="/"' in html


async def test_a_form_without_its_token_changes_nothing(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/sign-out", data={})
    assert response.status_code == 303  # no session: nothing to sign out of, off to sign in


def test_the_form_token_is_masked_differently_on_every_page() -> None:
    first, second = masked("session-token"), masked("session-token")
    assert first != second
    assert matches(first, "session-token")
    assert matches(second, "session-token")
    assert not matches(first, "another-token")
    assert not matches("session-token", "session-token")
    assert not matches("%%%", "session-token")


async def test_a_page_that_cannot_reach_the_api_says_so(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/invitations/some-token?lang=ru")
    assert response.status_code == 503
    assert "Сеть не смогла выполнить это сейчас" in response.text
