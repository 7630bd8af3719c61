"""Full-text search in many languages, translations by Accept-Language, stale services."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import ORG_ADMIN, VIEWER
from waymark_kernel.clock import utcnow
from waymark_registry.services.models import Service

TEXTS = {
    "en": ("Counselling for returning migrant workers", "Individual sessions."),
    "fr": ("Hébergement d'urgence pour les femmes", "Accueil de nuit."),
    "es": ("Asistencia jurídica gratuita", "Para trabajadoras domésticas."),
    "ar": ("مساعدة قانونية للعمال المهاجرين", "استشارات مجانية"),
    "ru": ("Юридическая помощь мигрантам", "Консультации бесплатно."),
    "ne": ("नेपाल आप्रवासी सहायता", "परामर्श सेवा"),
}
# On PostgreSQL the language's stemmer applies: inflected forms find each other.
STEMMED_QUERIES = [
    ("en", "migrants counselling"),
    ("fr", "hébergements femme"),
    ("es", "jurídicas trabajadora"),
    ("ar", "المهاجر قانوني"),
    ("ru", "мигранты юридическую"),
]
# Everywhere, SQLite's FTS5 included: words as prefixes, any case, Latin accents optional.
PREFIX_QUERIES = [
    ("en", "COUNSEL migrant"),
    ("fr", "hebergement urgence"),
    ("es", "juridica gratuita"),
    ("ar", "مساعدة قانونية"),
    ("ru", "юридическ помощ"),
    ("ne", "नेपाल सहायता"),
]


@pytest.fixture
async def multilingual(any_registry: Registry) -> tuple[Registry, dict[str, str]]:
    registry = any_registry
    organization = await registry.organization()
    ids: dict[str, str] = {}
    for language, (name, description) in TEXTS.items():
        created = await registry.service(
            organization, name=name, description=description, original_language=language
        )
        ids[created["id"]] = language
    return registry, ids


async def languages_found(registry: Registry, ids: dict[str, str], q: str) -> set[str]:
    response = await registry.client.get(
        "/v1/services", params={"q": q}, headers=registry.headers(None, VIEWER)
    )
    assert response.status_code == 200, response.text
    return {ids[item["id"]] for item in response.json()["items"]}


@pytest.mark.parametrize(("language", "q"), STEMMED_QUERIES)
async def test_postgresql_stemmed_queries_in_five_languages(
    registry: Registry, language: str, q: str
) -> None:
    organization = await registry.organization()
    ids = {}
    for code, (name, description) in TEXTS.items():
        created = await registry.service(
            organization, name=name, description=description, original_language=code
        )
        ids[created["id"]] = code

    assert await languages_found(registry, ids, q) == {language}


async def test_prefix_queries_in_six_languages(
    multilingual: tuple[Registry, dict[str, str]]
) -> None:
    registry, ids = multilingual
    for language, q in PREFIX_QUERIES:
        assert await languages_found(registry, ids, q) == {language}, q
    assert await languages_found(registry, ids, "counselling femmes") == set()  # every word
    assert await languages_found(registry, ids, "?! …") == set()  # no word finds nothing


async def test_a_translation_is_searched_and_shown_by_accept_language(
    any_registry: Registry
) -> None:
    registry = any_registry
    organization = await registry.organization()
    service = await registry.service(
        organization, name="Legal aid desk", description="Free legal advice.",
        original_language="en", translations=[
            {"field": "name", "language": "fr", "text": "Permanence juridique"},
            {"field": "description", "language": "fr", "text": "Conseil juridique gratuit."},
            {"field": "name", "language": "ar", "text": "مكتب المساعدة القانونية"},
        ],
    )
    url = f"/v1/services/{service['id']}"

    async def shown(accept_language: str | None) -> tuple[str, str, str]:
        headers = registry.headers(None, VIEWER)
        if accept_language:
            headers["Accept-Language"] = accept_language
        body: dict[str, str] = (await registry.client.get(url, headers=headers)).json()
        return body["language"], body["name"], body["description"]

    assert await shown(None) == ("en", "Legal aid desk", "Free legal advice.")
    assert await shown("fr-CH, fr;q=0.9, en;q=0.8") == (
        "fr", "Permanence juridique", "Conseil juridique gratuit.",
    )
    # Only the name is translated into Arabic: the description falls back to the original.
    assert await shown("ar") == ("ar", "مكتب المساعدة القانونية", "Free legal advice.")
    assert await shown("de, ar;q=0.5, fr;q=0.7") == (
        "fr", "Permanence juridique", "Conseil juridique gratuit.",
    )
    assert await shown("de, en;q=0.9, fr;q=0.8") == ("en", "Legal aid desk", "Free legal advice.")
    assert await shown("th") == ("en", "Legal aid desk", "Free legal advice.")
    found = await registry.client.get(
        "/v1/services", params={"q": "permanence"},
        headers={**registry.headers(None, VIEWER), "Accept-Language": "fr"},
    )
    assert [(i["id"], i["name"]) for i in found.json()["items"]] == [
        (service["id"], "Permanence juridique"),
    ]


async def test_replacing_translations_reindexes_the_service(registry: Registry) -> None:
    organization = await registry.organization()
    service = await registry.service(
        organization, name="Shelter", original_language="en",
        translations=[{"field": "name", "language": "es", "text": "Albergue"}],
    )
    headers = registry.headers(organization["id"], ORG_ADMIN)

    patched = await registry.client.patch(
        f"/v1/services/{service['id']}", headers=headers,
        json={"translations": [{"field": "name", "language": "ru", "text": "Приют"}]},
    )

    assert patched.status_code == 200
    assert patched.json()["translations"] == [
        {"field": "name", "language": "ru", "text": "Приют"},
    ]
    for q, hits in (("albergue", 0), ("приют", 1), ("shelter", 1)):
        page = await registry.client.get(
            "/v1/services", params={"q": q}, headers=registry.headers(None, VIEWER)
        )
        assert len(page.json()["items"]) == hits, q


@pytest.mark.parametrize("body", [
    {"translations": [{"field": "eligibility", "language": "fr", "text": "x"}]},
    {"translations": [{"field": "name", "language": "xx", "text": "x"}]},
    {"translations": [{"field": "name", "language": "fr", "text": "x" * 201}]},
    {"translations": [{"field": "name", "language": "fr", "text": "a"}] * 2},
    {"original_language": "fr",
     "translations": [{"field": "name", "language": "fr", "text": "Abri"}]},
])
async def test_bad_translations_are_422(registry: Registry, body: dict[str, Any]) -> None:
    organization = await registry.organization()

    response = await registry.client.post(
        "/v1/services", json={"name": "Shelter", "categories": ["shelter"], **body},
        headers=registry.headers(organization["id"], ORG_ADMIN),
    )

    assert response.status_code == 422, response.text


async def test_a_patch_cannot_put_a_translation_in_the_original_language(
    registry: Registry
) -> None:
    organization = await registry.organization()
    service = await registry.service(
        organization, name="Shelter", original_language="en",
        translations=[{"field": "name", "language": "fr", "text": "Abri"}],
    )

    response = await registry.client.patch(
        f"/v1/services/{service['id']}", json={"original_language": "fr"},
        headers=registry.headers(organization["id"], ORG_ADMIN),
    )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/translation-in-original-language")


async def test_a_service_unconfirmed_for_180_days_is_stale_until_confirmed(
    registry: Registry
) -> None:
    organization = await registry.organization()
    service = await registry.service(organization)
    assert service["stale"] is False
    assert service["last_verified_at"] == service["created_at"]
    async with registry.app.state.database.transaction() as session:
        await session.execute(
            update(Service).where(col(Service.id) == uuid.UUID(service["id"]))
            .values(last_verified_at=utcnow() - timedelta(days=181))
        )
    reader = registry.headers(None, VIEWER)
    url = f"/v1/services/{service['id']}"

    assert (await registry.client.get(url, headers=reader)).json()["stale"] is True
    refused = await registry.client.post(f"{url}/confirmation", headers=reader)
    confirmed = await registry.client.post(
        f"{url}/confirmation", headers=registry.headers(organization["id"], ORG_ADMIN)
    )

    assert refused.status_code == 403
    assert confirmed.status_code == 200
    assert confirmed.json()["stale"] is False
    assert (await registry.client.get(url, headers=reader)).json()["stale"] is False
