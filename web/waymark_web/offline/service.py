"""The directory of a caseworker's own country, compact, for her app to search offline: public
data only (what any caseworker reads in the directory), its words in the visitor's language,
confidential places by city and country alone."""

import unicodedata
from datetime import UTC, datetime
from typing import Any

from waymark_web import i18n
from waymark_web.context import Visit
from waymark_web.pages import country_name, moment
from waymark_web.vocabulary import label

PAGES_READ = 50  # at 100 services a page: a country's whole directory
PLACES_SHOWN = 2


def search_words(*texts: str | None) -> str:
    """Each word once, as the app's script compares them: decomposed, without marks, lower
    case; anything but a letter or a digit separates words."""
    decomposed = unicodedata.normalize("NFKD", " ".join(text for text in texts if text))
    kept = "".join(
        "" if unicodedata.category(char)[0] == "M"
        else char if unicodedata.category(char)[0] in "LN" else " "
        for char in decomposed
    )
    return " ".join(dict.fromkeys(kept.lower().split()))


def with_parents(codes: list[str], parents: dict[str, str | None]) -> list[str]:
    """A service is found under its categories and the ones above them."""
    found = dict.fromkeys(codes)
    for code in codes:
        parent = parents.get(code)
        while parent:
            found[parent] = None
            parent = parents.get(parent)
    return list(found)


def in_language(service: dict[str, Any], language: str) -> tuple[str, str, str | None]:
    """Name, description and their language: the translation into `language` where there is
    one, else the original (as the API chooses)."""
    texts = {item["field"]: item["text"] for item in service["translations"]
             if item["language"] == language and language != service["original_language"]}
    if texts:
        return (texts.get("name", service["name"]),
                texts.get("description", service["description"] or ""), language)
    return service["name"], service["description"] or "", service["original_language"]


def facts(service: dict[str, Any]) -> list[str]:
    """What a result of the directory search says of a service, in the visitor's language."""
    found = [", ".join(filter(None, [location["city"], country_name(location["country"])]))
             for location in service["locations"][:PLACES_SHOWN]]
    if service["capacity"]:
        found.append(label("capacity", service["capacity"]))
    if hours := service["response_time_hours"]:
        found.append(i18n.ngettext("Answers within %(num)d hour", "Answers within %(num)d hours",
                                   hours) % {"num": hours})
    if service["free_of_charge"]:
        found.append(i18n.gettext("Free of charge"))
    if service["accepts_referrals"]:
        found.append(i18n.gettext("Accepts referrals"))
    return found


def entry(service: dict[str, Any], language: str, parents: dict[str, str | None]) -> dict[str, Any]:
    name, description, written_in = in_language(service, language)
    every_text = [service["name"], service["description"], service["organization_name"],
                  *(item["text"] for item in service["translations"])]
    return {
        "id": service["id"], "name": name, "description": description,
        "lang": written_in if written_in and written_in != language else None,
        "organization": service["organization_name"],
        "verified": service["organization_verified"], "stale": service["stale"],
        "facts": facts(service),
        "contact": [phone["number"] for phone in service["phones"]]
        + [value for value in (service["email"], service["url"]) if value],
        "words": search_words(*every_text),
        "categories": with_parents(service["categories"], parents),
        "languages": service["languages"], "populations": service["populations"],
        "migration_stages": service["migration_stages"],
        "accepts_referrals": service["accepts_referrals"],
    }


async def own_country_directory(visit: Visit) -> dict[str, Any]:
    """Every service of her organisation's country, with the notice that dates it."""
    organization = await visit.api.get(f"/v1/organizations/{visit.organization_id}")
    country = organization["country"]
    taxonomy = (await visit.api.get("/v1/taxonomy"))["items"]
    parents = {item["code"]: item["parent_code"] for item in taxonomy}
    services: list[dict[str, Any]] = []
    parameters: dict[str, Any] = {"country": country, "limit": 100}
    for _ in range(PAGES_READ):
        page = await visit.api.get_original("/v1/services", parameters)
        services.extend(page["items"])
        if not page.get("next_cursor"):
            break
        parameters["cursor"] = page["next_cursor"]
    kept_at = datetime.now(UTC)
    token = i18n.activate(visit.language)
    try:
        return {
            "country": country, "kept_at": kept_at.isoformat(),
            "notice": i18n.gettext(
                "Offline: results from the directory of %(country)s as it was on %(date)s."
            ) % {"country": country_name(country), "date": moment(kept_at)},
            "services": [entry(service, visit.language.code, parents) for service in services],
        }
    finally:
        i18n.deactivate(token)
