"""Signed-in pages over HTTP, without a browser: the session cookie is the browser's only
credential, every change needs the page's form token, and signing out ends the session."""

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.e2e.support import Network
from web.tests.support import Caseworker, form_token, post_sign_in

NEPAL = "Nepal Red Cross Society"


@pytest.fixture
def signed_in(network: Network, caseworker: Callable[..., Caseworker]) -> Iterator[httpx.Client]:
    person = caseworker(NEPAL, "Sita Sharma")
    with httpx.Client(base_url=network.base_url, timeout=30) as client:
        response = post_sign_in(client, {
            "email": person.email, "password": person.password, "code": person.code(),
            "next": "/cases",
        })
        assert response.status_code == 303
        assert response.headers["location"] == "/cases"
        assert "httponly" in response.headers["set-cookie"].lower()
        yield client



def cases_listed(client: httpx.Client) -> int:
    html = client.get("/cases").text
    return html.count('href="/cases/') - html.count('href="/cases/new"')


def test_a_case_is_opened_with_the_pages_token(signed_in: httpx.Client) -> None:
    token = form_token(signed_in.get("/cases/new").text)
    response = signed_in.post("/cases/new", data={"csrf_token": token, "given_name": "Maya",
                                                   "languages": ["ne", "en"], "age_estimate": "27"})
    assert response.status_code == 303
    case = signed_in.get(response.headers["location"])
    assert case.status_code == 200
    assert "Maya" in case.text
    assert "Nepali" in case.text
    assert case.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("token", [None, "", "forged", "c2Vzc2lvbg=="])
def test_a_form_without_the_sessions_token_changes_nothing(
    signed_in: httpx.Client, token: str | None,
) -> None:
    before = cases_listed(signed_in)
    data = {"given_name": "Forged"} | ({} if token is None else {"csrf_token": token})
    response = signed_in.post("/cases/new", data=data)
    assert response.status_code == 403
    assert "Nothing was changed" in response.text
    assert cases_listed(signed_in) == before
    assert "Forged" not in signed_in.get("/cases").text


def test_people_signed_in_at_once_keep_their_own_sessions(
    network: Network, signed_in: httpx.Client, caseworker: Callable[..., Caseworker],
) -> None:
    other = caseworker(NEPAL, "Gita Rai")
    with httpx.Client(base_url=network.base_url, timeout=30) as second, \
            httpx.Client(base_url=network.base_url, timeout=30) as nobody:
        post_sign_in(second, {"email": other.email, "password": other.password,
                              "code": other.code()})
        assert "Hello, Gita Rai" in second.get("/").text
        assert "Hello, Sita Sharma" in signed_in.get("/").text
        assert nobody.get("/").headers["location"] == "/sign-in?next=/"


def test_a_token_of_another_session_is_refused(
    network: Network, signed_in: httpx.Client, caseworker: Callable[..., Caseworker],
) -> None:
    other = caseworker(NEPAL, "Gita Rai")
    with httpx.Client(base_url=network.base_url, timeout=30) as second:
        post_sign_in(second, {"email": other.email, "password": other.password,
                              "code": other.code()})
        foreign_token = form_token(second.get("/cases/new").text)
    response = signed_in.post("/cases/new", data={"csrf_token": foreign_token, "given_name": "X"})
    assert response.status_code == 403


def test_signing_out_ends_the_session_and_clears_the_browsers_storage(
    signed_in: httpx.Client,
) -> None:
    cookies = dict(signed_in.cookies)
    token = form_token(signed_in.get("/").text)
    response = signed_in.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?signed_out=true"
    assert response.headers["clear-site-data"] == '"cache", "storage"'
    with httpx.Client(base_url=str(signed_in.base_url), cookies=cookies) as stolen:
        replayed = stolen.get("/cases")
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/sign-in")


def test_a_wrong_code_keeps_the_visitor_on_the_sign_in_page(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    person = caseworker(NEPAL, "Sita Sharma")
    with httpx.Client(base_url=network.base_url) as client:
        response = post_sign_in(client, {
            "email": person.email, "password": person.password, "code": "000000",
            "next": "/cases",
        }, "/sign-in?lang=fr")
    assert response.status_code == 401
    assert "n’est pas correct" in response.text
    assert response.headers.get_list("set-cookie") == ["lang=fr; Path=/; Max-Age=31536000; SameSite=Lax"]
    assert f'value="{person.email}"' in response.text


@pytest.mark.parametrize("with_token", [False, True])
def test_a_sign_in_sent_from_another_site_is_refused(
    network: Network, caseworker: Callable[..., Caseworker], with_token: bool,
) -> None:
    """Another site's page can post the form (with a token it saw once), but not the cookie of
    the browser's own sign-in page: the visitor is not signed in as anyone."""
    person = caseworker(NEPAL, "Sita Sharma")
    credentials = {"email": person.email, "password": person.password, "code": person.code()}
    with httpx.Client(base_url=network.base_url, timeout=30) as attacker:
        seen_token = form_token(attacker.get("/sign-in").text)
    with httpx.Client(base_url=network.base_url, timeout=30) as victim:
        forged = victim.post("/sign-in?lang=fr", data=credentials | (
            {"csrf_token": seen_token} if with_token else {}))
        assert forged.status_code == 403
        assert "Vous n’êtes pas connecté" in forged.text
        for cookie in forged.headers.get_list("set-cookie"):  # no session, only a new form's
            assert cookie.startswith(("waymark_sign_in=", "lang=")), cookie
        assert victim.get("/cases").headers["location"].startswith("/sign-in")
        signed = post_sign_in(victim, credentials | {"code": person.code()})
        assert signed.status_code == 303
        assert "Sita Sharma" in victim.get("/").text
