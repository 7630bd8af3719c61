"""A real standalone network for the page tests, and caseworkers enrolled in it the way an
organisation admin enrols them (invitation, password, authenticator)."""

import base64
import hashlib
import hmac
import json
import re
import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.support import ADMIN_SECRET

PASSWORD = "Quiet-Harbour-Lantern-2026"


def totp_code(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), as the caseworker's authenticator app computes it."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


@dataclass
class Caseworker:
    name: str
    email: str
    password: str
    secret: str | None
    organization_id: str
    organization: str

    def code(self) -> str:
        return totp_code(self.secret) if self.secret else ""


def form_token(html: str) -> str:
    """The form token of a page, as the browser sends it back with the form."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def post_sign_in(client: httpx.Client, fields: dict[str, str],
                 address: str = "/sign-in") -> httpx.Response:
    """Open the sign-in page, then send its form filled with `fields`, as a browser does."""
    token = form_token(client.get("/sign-in").text)
    return client.post(address, data={**fields, "csrf_token": token})


def signed_in_client(base_url: str, person: Caseworker) -> httpx.Client:
    """A browser without JavaScript, signed in through the sign-in page (close it when done)."""
    client = httpx.Client(base_url=base_url, timeout=30)
    response = post_sign_in(client, {"email": person.email, "password": person.password,
                                     "code": person.code()})
    assert response.status_code == 303, response.text
    return client


def demo_clients(data_dir: Path) -> dict[str, dict[str, Any]]:
    entries = json.loads((data_dir / "demo-credentials.json").read_text())
    clients = entries["clients"] if isinstance(entries, dict) else entries
    return {entry["organization"]: entry for entry in clients}


def client_headers(base_url: str, client: dict[str, Any]) -> dict[str, str]:
    response = httpx.post(f"{base_url}/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    })
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def network_admin_headers(base_url: str) -> dict[str, str]:
    """The bootstrap network-admin client's: the one that makes a person a network admin."""
    return client_headers(base_url, {"client_id": "network-admin", "client_secret": ADMIN_SECRET})


def enrol(base_url: str, data_dir: Path, organization: str, name: str,
          roles: tuple[str, ...] = ("caseworker",)) -> Caseworker:
    client = demo_clients(data_dir)[organization]
    admin = (network_admin_headers(base_url) if "network_admin" in roles
             else client_headers(base_url, client))
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:6]}@example.org"
    invited = httpx.post(
        f"{base_url}/v1/organizations/{client['organization_id']}/invitations",
        json={"email": email, "roles": list(roles)}, headers=admin,
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["accept_url"].rstrip("/").rsplit("/", 1)[1]
    accepted = httpx.post(f"{base_url}/v1/invitations/{token}",
                          json={"name": name, "password": PASSWORD})
    assert accepted.status_code == 201, accepted.text
    totp = accepted.json()["totp"]
    return Caseworker(name, email, PASSWORD, totp["secret"] if totp else None,
                      client["organization_id"], organization)


def create_service(base_url: str, data_dir: Path, organization: str, name: str,
                   place: tuple[str, str, float, float] = ("JO", "Amman", 31.95, 35.93),
                   categories: tuple[str, ...] = ("shelter",)) -> dict[str, Any]:
    """A shelter of a demo organisation (in Amman unless `place` says where), created through
    the API by the organisation's admin client."""
    country, city, latitude, longitude = place
    client = demo_clients(data_dir)[organization]
    response = httpx.post(f"{base_url}/v1/services", headers=client_headers(
        base_url, client), json={
        "organization_id": client["organization_id"], "name": name,
        "description": "Safe accommodation for women in transit, with case management.",
        "categories": list(categories), "languages": ["ar", "en"], "populations": ["women_at_risk"],
        "migration_stages": ["transit", "destination"], "accepts_referrals": True,
        "capacity": "available", "response_time_hours": 24,
        "locations": [{"city": city, "admin_area": city, "country": country,
                       "latitude": latitude, "longitude": longitude, "confidential": True}],
    })
    assert response.status_code == 201, response.text
    return response.json()
