"""The demo network: the fifteen National Societies, one fictional CSO per country and a
few services, all created through the public API as the network admin would."""

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from waymark_gateway.settings import GatewaySettings
from waymark_kernel.files import create_private_file
from waymark_kernel.settings import DEVELOPMENT_ADMIN_SECRET, Settings

DEMO_MARK = "(demo)"
log = logging.getLogger("waymark.demo")


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    national_society: str
    languages: tuple[str, ...]
    city: str
    admin_area: str
    latitude: float
    longitude: float


# Names of the National Societies as in the design (§1); coordinates of the capital city.
COUNTRIES = (
    Country("BJ", "Benin", "Red Cross of Benin", ("fr",), "Porto-Novo", "Ouémé", 6.4969, 2.6289),
    Country("EC", "Ecuador", "Ecuadorian Red Cross", ("es",), "Quito", "Pichincha", -0.1807, -78.4678),
    Country("ET", "Ethiopia", "Ethiopian Red Cross Society", ("am", "en"), "Addis Ababa", "Addis Ababa", 9.0300, 38.7400),
    Country("GT", "Guatemala", "Guatemalan Red Cross", ("es",), "Guatemala City", "Guatemala", 14.6349, -90.5069),
    Country("HN", "Honduras", "Honduran Red Cross", ("es",), "Tegucigalpa", "Francisco Morazán", 14.0723, -87.1921),
    Country("ID", "Indonesia", "Indonesian Red Cross (Palang Merah Indonesia)", ("id",), "Jakarta", "DKI Jakarta", -6.2088, 106.8456),
    Country("JO", "Jordan", "Jordan National Red Crescent Society", ("ar",), "Amman", "Amman", 31.9454, 35.9284),
    Country("KZ", "Kazakhstan", "Kazakh Red Crescent", ("kk", "ru"), "Astana", "Astana", 51.1694, 71.4491),
    Country("LB", "Lebanon", "Lebanese Red Cross", ("ar", "fr"), "Beirut", "Beirut", 33.8938, 35.5018),
    Country("MA", "Morocco", "Moroccan Red Crescent", ("ar", "fr"), "Rabat", "Rabat-Salé-Kénitra", 34.0209, -6.8416),
    Country("NP", "Nepal", "Nepal Red Cross Society", ("ne",), "Kathmandu", "Bagmati", 27.7172, 85.3240),
    Country("RU", "Russian Federation", "Russian Red Cross", ("ru",), "Moscow", "Moscow", 55.7558, 37.6173),
    Country("TJ", "Tajikistan", "Red Crescent Society of Tajikistan", ("tg", "ru"), "Dushanbe", "Dushanbe", 38.5598, 68.7870),
    Country("TH", "Thailand", "Thai Red Cross Society", ("th",), "Bangkok", "Bangkok", 13.7563, 100.5018),
    Country("ZW", "Zimbabwe", "Zimbabwe Red Cross Society", ("en", "sn"), "Harare", "Harare", -17.8252, 31.0335),
)


def _location(country: Country, name: str, *, confidential: bool = False) -> dict[str, Any]:
    return {
        "name": name, "address": None, "city": country.city, "admin_area": country.admin_area,
        "country": country.code, "latitude": country.latitude, "longitude": country.longitude,
        "confidential": confidential,
    }


def _services(country: Country, national_society_id: str, cso_id: str) -> list[dict[str, Any]]:
    common = {
        "status": "active", "free_of_charge": True, "accepts_referrals": True,
        "capacity": "available", "interpretation_available": True,
    }
    return [
        {
            **common, "organization_id": national_society_id,
            "name": f"Migrant help desk and restoring family links {DEMO_MARK}",
            "description": "Information, referral and family-tracing for migrants in "
                           f"{country.name}. Fictional demo service.",
            "categories": ["rfl", "health"],
            "languages": list(country.languages), "populations": ["all_migrants"],
            "migration_stages": ["origin", "transit", "destination", "return"],
            "response_time_hours": 72,
            "locations": [_location(country, f"{country.national_society} headquarters")],
        },
        {
            **common, "organization_id": cso_id,
            "name": f"Legal aid for migrant domestic workers {DEMO_MARK}",
            "description": "Advice on contracts, unpaid wages and documents. Fictional demo service.",
            "categories": ["legal", "livelihoods.labour_rights"], "languages": list(country.languages),
            "populations": ["migrant_domestic_workers"],
            "migration_stages": ["destination", "return"], "response_time_hours": 24,
            "locations": [_location(country, f"{country.city} legal clinic")],
        },
        {
            **common, "organization_id": cso_id,
            "name": f"Safe shelter for survivors of trafficking {DEMO_MARK}",
            "description": "Emergency accommodation and case management. Fictional demo service.",
            "categories": ["shelter.safe_house", "protection.anti_trafficking"],
            "languages": list(country.languages),
            "populations": ["victims_of_trafficking", "women_at_risk"],
            "migration_stages": ["transit", "destination"], "capacity": "limited",
            "response_time_hours": 1,
            "locations": [_location(country, "Shelter", confidential=True)],
        },
    ]


def should_seed(settings: Settings) -> bool:
    """Whether to create the demo network: it needs the built-in issuer's clients."""
    if not settings.should_seed_demo:
        return False
    if GatewaySettings.of(settings).oidc_discovery_url:
        log.warning("the demo network is not created: an external OpenID Connect issuer "
                    "replaces the built-in one, whose API clients the demo network uses")
        return False
    return True


async def seed(client: httpx.AsyncClient, admin_secret: str, credentials_file: Path) -> dict[str, Any]:
    """Create the demo network through the API; returns the demo clients' and people's
    credentials (empty when the network has data already)."""
    admin = await _token(client, "network-admin", admin_secret)
    existing = await client.get("/v1/organizations", params={"limit": 1}, headers=admin)
    existing.raise_for_status()
    if existing.json()["items"]:
        return {}
    credentials, people = [], []
    for country in COUNTRIES:
        society = await _create(client, admin, "/v1/organizations", {
            "name": country.national_society, "type": "national_society", "country": country.code,
            "languages": list(country.languages),
            "description": f"The National Red Cross or Red Crescent Society of {country.name}.",
        })
        cso = await _create(client, admin, "/v1/organizations", {
            "name": f"{country.name} Migrant Workers Support Network {DEMO_MARK}", "type": "cso",
            "country": country.code, "languages": list(country.languages),
            "description": "A fictional civil-society organisation for the demo network.",
        })
        for organization in (society, cso):
            await _create(client, admin, f"/v1/organizations/{organization['id']}", {"verified": True}, method="PATCH")
            secret = await _create(client, admin, f"/v1/organizations/{organization['id']}/clients", {
                "name": "demo caseworker desk", "roles": ["org_admin", "caseworker"],
            })
            credentials.append({
                "organization": organization["name"], "organization_id": organization["id"],
                "country": country.code, "client_id": secret["client_id"],
                "client_secret": secret["client_secret"],
            })
        for service in _services(country, society["id"], cso["id"]):
            await _create(client, admin, "/v1/services", service)
        people += [
            await _person(client, admin, country, society, role)
            for role in (("caseworker",), ("org_admin",))
        ]
        if country == COUNTRIES[0]:  # the network's own admin, a person of its first Society
            people.append(await _person(client, admin, country, society, ("network_admin",)))
    seeded = {
        "note": "Demo network: the demo people whose totp_secret is null sign in WITHOUT a "
                "second factor (demo mode only); the others with the TOTP code of their secret.",
        "clients": credentials, "people": people,
    }
    _write_private(credentials_file, json.dumps(seeded, indent=2, ensure_ascii=False))
    return seeded


async def _person(
    client: httpx.AsyncClient, admin: dict[str, Any], country: Country, organization: dict[str, Any],
    roles: tuple[str, ...],
) -> dict[str, Any]:
    """A demo person of the National Society: caseworkers sign in without a second factor
    (demo networks only), admins with the TOTP code of the secret written down for them."""
    kinds: dict[tuple[str, ...], str] = {
        ("caseworker",): "caseworker", ("network_admin",): "network-admin",
    }
    kind = kinds.get(roles, "admin")
    email = f"{kind}.{country.code.lower()}@demo.waymark.example"
    waived = kind == "caseworker"
    invitation = await _create(client, admin, f"/v1/organizations/{organization['id']}/invitations", {
        "email": email, "roles": list(roles), "second_factor_waived": waived,
    })
    password = f"demo-{secrets.token_urlsafe(12)}"
    token = invitation["accept_url"].rsplit("/", 1)[1]
    enrolled = await _create(client, {}, f"/v1/invitations/{token}", {
        "name": f"{country.name} {kind} {DEMO_MARK}", "password": password,
    })
    return {
        "organization": organization["name"], "organization_id": organization["id"],
        "email": email, "password": password, "roles": list(roles),
        "totp_secret": enrolled["totp"]["secret"] if enrolled["totp"] else None,
    }


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    response = await client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
    })
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _create(client: httpx.AsyncClient, headers: dict[str, Any], path: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
    response = await client.request(method, path, json=body, headers=headers)
    if response.status_code >= 400:
        raise RuntimeError(f"demo seeding failed at {method} {path}: {response.status_code} {response.text}")
    created: dict[str, Any] = response.json()
    return created


def _write_private(path: Path, text: str) -> None:
    create_private_file(path)
    path.write_text(text)


def banner(settings: Settings, credentials_file: Path) -> str:
    lines = [
        "",
        f"Waymark ({settings.mode.value}) is ready at {settings.gateway_url}",
        f"  API documentation: {settings.gateway_url}/docs",
    ]
    external_issuer = GatewaySettings.of(settings).oidc_discovery_url
    if external_issuer:
        lines.append(f"  tokens:            from the OpenID Connect issuer of {external_issuer}")
    else:
        lines.append("  network admin:     client_id=network-admin  client_secret=" + settings.admin_secret)
    if settings.admin_secret == DEVELOPMENT_ADMIN_SECRET and not external_issuer:
        lines.append("  WARNING: this is the documented DEVELOPMENT admin secret; set "
                     "WAYMARK_ADMIN_CLIENT_SECRET for anything but a demo.")
    if credentials_file.exists():
        seeded = json.loads(credentials_file.read_text())
        clients, people = seeded["clients"], seeded["people"]
        lines.append(f"  demo organisations' clients ({len(clients)}), all in {credentials_file}:")
        for entry in clients[:2]:
            lines.append(f"    {entry['organization']}: client_id={entry['client_id']} "
                         f"client_secret={entry['client_secret']}")
        lines.append(f"  demo people ({len(people)}), all in {credentials_file}; sign in at "
                     f"{settings.gateway_url}/sign-in. DEMO MODE: the demo caseworkers sign in "
                     "WITHOUT a second factor; org admins need the TOTP code of their totp_secret:")
        for entry in _two_societies(people):
            lines.append(f"    {entry['organization']} ({', '.join(entry['roles'])}): "
                         f"{_sign_in_of(entry)}")
        for entry in people:
            if "network_admin" in entry["roles"]:
                lines.append(f"  demo network admin (the /admin pages): {_sign_in_of(entry)}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def _two_societies(people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    organizations = list(dict.fromkeys(entry["organization"] for entry in people))[:2]
    return [entry for entry in people
            if entry["organization"] in organizations and "network_admin" not in entry["roles"]]


def _sign_in_of(entry: dict[str, Any]) -> str:
    factor = "no second factor" if entry["totp_secret"] is None else (
        f"totp_secret={entry['totp_secret']}")
    return f"{entry['email']}  password={entry['password']}  {factor}"
