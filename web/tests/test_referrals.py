"""Referrals over HTTP against the real network: the receiver of an accepted referral refers
the person on, sharing at most what she was shared, and the case's owner sees both legs of
the journey; a consent withdrawal shows the open legs it cancelled."""

import re
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx

from tests.e2e.support import Network
from web.tests.support import Caseworker, create_service, form_token, matched, signed_in_client

NEPAL = "Nepal Red Cross Society"
JORDAN = "Jordan National Red Crescent Society"
LEBANON = "Lebanese Red Cross"


def test_the_receiver_refers_the_person_on_and_the_journey_shows_both_legs(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    data_dir = Path(network.data_dir)
    first = create_service(network.base_url, data_dir, JORDAN, "Transit shelter (demo)")
    second = create_service(network.base_url, data_dir, LEBANON, "Shelter in Beirut (demo)",
                            ("LB", "Beirut", 33.89, 35.50))
    sita = signed_in_client(network.base_url, caseworker(NEPAL, "Sita Sharma"))
    rania = signed_in_client(network.base_url, caseworker(JORDAN, "Rania Haddad"))

    token = form_token(sita.get("/cases/new").text)
    case_url = sita.post("/cases/new", data={
        "csrf_token": token, "given_name": "Maya", "family_name": "Gurung", "phone": "+9779800000000",
    }).headers["location"]
    sita.post(f"{case_url}/consent", data={"csrf_token": token, "legal_basis": "consent",
                                           "given_at": "2026-01-01T10:00", "method": "written"})
    sent = sita.post(f"{case_url}/referrals", data={
        "csrf_token": token, "action": "send", "service_id": first["id"], "urgency": "normal",
        "migration_stage": "transit", "reason": "Shelter on the way.",
        "shared_fields": ["given_name", "phone"],
    })
    referral_url = sent.headers["location"]

    page = rania.get(referral_url).text
    rania_token = form_token(page)
    version = matched(r'name="version" value="(\d+)"', page)
    assert rania.post(f"{referral_url}/transitions", data={
        "csrf_token": rania_token, "to": "accepted", "version": version,
    }).status_code == 303
    accepted = rania.get(referral_url).text
    assert 'href="/services?for_referral=' in accepted
    onward_form = rania.get(f"{referral_url}?service={second['id']}").text
    offered = re.findall(r'name="shared_fields" value="(\w+)"', onward_form)
    assert offered == ["given_name", "phone"]  # never more than she was shared
    onward = rania.post(f"{referral_url}/onward", data={
        "csrf_token": rania_token, "service_id": second["id"], "urgency": "high",
        "migration_stage": "destination", "reason": "Onward to Beirut.",
        "shared_fields": ["given_name"],
    })
    assert onward.status_code == 303
    leg = rania.get(onward.headers["location"]).text
    assert "Referral to Lebanese Red Cross" in leg
    assert "Maya" in leg
    assert "+977" not in leg

    journey = sita.get(case_url).text
    legs = re.findall(r'<li><a href="/referrals/([0-9a-f-]{36})">', journey)
    assert len(legs) == 2
    assert "Nepal" in journey
    assert "Jordan" in journey
    assert "Lebanon" in journey
    sita.close()
    rania.close()


def test_withdrawing_consent_shows_every_open_leg_it_cancelled(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    shelter = create_service(network.base_url, Path(network.data_dir), JORDAN, "Shelter (demo)")
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Sita Sharma"))) as sita:
        token = form_token(sita.get("/cases/new").text)
        case_url = sita.post("/cases/new", data={"csrf_token": token, "given_name": "Maya"}
                             ).headers["location"]
        sita.post(f"{case_url}/consent", data={"csrf_token": token, "legal_basis": "consent",
                                               "given_at": "2026-01-01T10:00"})
        referral_url = sita.post(f"{case_url}/referrals", data={
            "csrf_token": token, "action": "send", "service_id": shelter["id"],
            "reason": "Shelter.", "shared_fields": ["given_name"],
        }).headers["location"]

        withdrawn = sita.post(f"{case_url}/consent/withdraw", data={"csrf_token": token})

        assert withdrawn.status_code == 200
        assert "1 open referral was cancelled." in withdrawn.text
        assert f'href="{referral_url}"' in withdrawn.text
        assert "No legal basis is recorded yet" in withdrawn.text
        assert 'class="badge status-cancelled"' in sita.get(referral_url).text


def unread_in_menu(client: httpx.Client, address: str, words: str = "unread") -> int:
    """The count beside Start in the menu, and what a screen reader says of it (0: none)."""
    html = client.get(address).text
    shown = re.search(r'<span class="count" aria-hidden="true">(\d+)</span>'
                      r'<span class="visually-hidden">\((\d+) ([^<]*)\)</span>', html)
    if shown is None:
        return 0
    assert shown[1] == shown[2], shown[0]
    assert words in shown[3], shown[0]
    return int(shown[1])


def test_the_start_page_says_what_changed_until_it_is_seen(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    shelter = create_service(network.base_url, Path(network.data_dir), JORDAN, "Shelter (demo)")
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Sita Sharma"))) as sita, \
            closing(signed_in_client(network.base_url, caseworker(JORDAN, "Rania Haddad"))) as rania:
        token = form_token(sita.get("/cases/new").text)
        case_url = sita.post("/cases/new", data={"csrf_token": token, "given_name": "Maya"}
                             ).headers["location"]
        sita.post(f"{case_url}/consent", data={"csrf_token": token, "legal_basis": "consent",
                                               "given_at": "2026-01-01T10:00"})
        referral_url = sita.post(f"{case_url}/referrals", data={
            "csrf_token": token, "action": "send", "service_id": shelter["id"],
            "reason": "Shelter.", "shared_fields": ["given_name"],
        }).headers["location"]
        news = re.compile(rf'<a href="{referral_url}">Referral: Requested</a>')
        deadline = time.monotonic() + 15
        start = rania.get("/").text
        while not news.search(start) and time.monotonic() < deadline:  # the inbox is fed by events
            time.sleep(0.3)
            start = rania.get("/").text
        assert news.search(start)
        unread = unread_in_menu(rania, "/cases")
        assert unread == rania.get("/v1/inbox").json()["unread_count"] >= 1
        assert unread_in_menu(rania, "/services?lang=fr", "non lu") == unread
        notification = matched(r'action="/inbox/([0-9a-f-]{36})/read"', start)

        seen = rania.post(f"/inbox/{notification}/read", data={"csrf_token": form_token(start)})

        assert seen.status_code == 303
        assert not news.search(rania.get("/").text)
        assert unread_in_menu(rania, "/referrals?lang=en") == unread - 1
