"""A service's profile as its organisation's admin fills it in, and the API's body it becomes:
fields by their form names, rows of places, phones, opening hours and translations, and the
API's validation errors put back beside the field each one names."""

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from waymark_web.api import ApiError
from waymark_web.pages import WEEKDAYS
LOCATION_TEXTS = ("name", "address", "city", "admin_area", "latitude", "longitude")
PHONE_TEXTS = ("number", "type", "description", "languages")
SCHEDULE_TEXTS = ("opens_at", "closes_at", "description")
TRANSLATED_FIELDS = ("name", "description")
# The API's list of a service and the form name of one of its rows.
ROW_NAMES = {"locations": "location", "phones": "phone", "schedules": "schedule",
             "translations": "translation"}
MAX_ROWS = {"location": 50, "phone": 10, "schedule": 14, "translation": 60}
LANGUAGE_CODES = re.compile(r"[\s,;]+")
Row = dict[str, Any]


def text(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


def optional(value: str) -> str | None:
    return value or None


def language_codes(written: str) -> list[str]:
    """Codes as typed: "ur, ps" or "ur ps"; the API checks each."""
    return [code.lower() for code in LANGUAGE_CODES.split(written) if code]


def rows(form: FormData, kind: str) -> list[int]:
    """The indexes of the rows of `kind` the form holds, in order."""
    pattern = re.compile(rf"{kind}-(\d{{1,3}})-")
    found = {int(match[1]) for name in form if (match := pattern.match(name))}
    return sorted(found)[:MAX_ROWS[kind]]


def row_of(form: FormData, kind: str, index: int, texts: tuple[str, ...]) -> Row:
    return {name: text(form, f"{kind}-{index}-{name}") for name in texts}


@dataclass
class ServiceForm:
    """What the form shows and sends. Rows left empty are dropped, so the rows shown with an
    error are numbered as the API numbered them."""

    name: str = ""
    description: str = ""
    original_language: str = ""
    categories: list[str] = field(default_factory=list)
    status: str = "active"
    languages: list[str] = field(default_factory=list)
    interpretation_available: bool = False
    populations: list[str] = field(default_factory=list)
    migration_stages: list[str] = field(default_factory=list)
    free_of_charge: bool = True
    accepts_referrals: bool = True
    capacity: str = ""
    response_time_hours: str = ""
    eligibility_description: str = ""
    email: str = ""
    url: str = ""
    locations: list[Row] = field(default_factory=list)
    phones: list[Row] = field(default_factory=list)
    schedules: list[Row] = field(default_factory=list)

    @classmethod
    def from_form(cls, form: FormData) -> "ServiceForm":
        locations = []
        for index in rows(form, "location"):
            location = row_of(form, "location", index, LOCATION_TEXTS)
            if any(location.values()):
                location["country"] = text(form, f"location-{index}-country")
                location["confidential"] = form.get(f"location-{index}-confidential") == "true"
                locations.append(location)
        phones = [phone for index in rows(form, "phone")
                  if any((phone := row_of(form, "phone", index, PHONE_TEXTS)).values())]
        schedules = []
        for index in rows(form, "schedule"):
            schedule = row_of(form, "schedule", index, SCHEDULE_TEXTS)
            schedule["byday"] = [day for day in WEEKDAYS
                                 if day in form.getlist(f"schedule-{index}-byday")]
            if any(schedule.values()):
                schedules.append(schedule)
        languages = [str(code) for code in form.getlist("languages")]
        return cls(
            name=text(form, "name"), description=text(form, "description"),
            original_language=text(form, "original_language"),
            categories=[str(code) for code in form.getlist("categories")],
            status=text(form, "status") or "active",
            languages=languages + [code for code in language_codes(text(form, "other_languages"))
                                   if code not in languages],
            interpretation_available=form.get("interpretation_available") == "true",
            populations=[str(code) for code in form.getlist("populations")],
            migration_stages=[str(code) for code in form.getlist("migration_stages")],
            free_of_charge=form.get("free_of_charge") == "true",
            accepts_referrals=form.get("accepts_referrals") == "true",
            capacity=text(form, "capacity"),
            response_time_hours=text(form, "response_time_hours"),
            eligibility_description=text(form, "eligibility_description"),
            email=text(form, "email"), url=text(form, "url"),
            locations=locations, phones=phones, schedules=schedules,
        )

    @classmethod
    def from_service(cls, service: dict[str, Any]) -> "ServiceForm":
        """The form of a service as the API shows it to its own organisation (in the original
        language, every place in full)."""
        def shown(value: object) -> str:
            return "" if value is None else str(value)

        return cls(
            name=service["name"], description=shown(service["description"]),
            original_language=shown(service["original_language"]),
            categories=list(service["categories"]), status=service["status"],
            languages=list(service["languages"]),
            interpretation_available=service["interpretation_available"],
            populations=list(service["populations"]),
            migration_stages=list(service["migration_stages"]),
            free_of_charge=service["free_of_charge"],
            accepts_referrals=service["accepts_referrals"],
            capacity=shown(service["capacity"]),
            response_time_hours=shown(service["response_time_hours"]),
            eligibility_description=shown(service["eligibility_description"]),
            email=shown(service["email"]), url=shown(service["url"]),
            locations=[{**{name: shown(location[name]) for name in LOCATION_TEXTS},
                        "country": location["country"], "confidential": location["confidential"]}
                       for location in service["locations"]],
            phones=[{**{name: shown(phone.get(name)) for name in PHONE_TEXTS[:3]},
                     "languages": ", ".join(phone.get("languages") or [])}
                    for phone in service["phones"]],
            schedules=[{**{name: shown(schedule.get(name)) for name in SCHEDULE_TEXTS},
                        "byday": list(schedule.get("byday") or [])}
                       for schedule in service["schedules"]],
        )

    def api_body(self) -> dict[str, Any]:
        """The API's service profile; numbers go as typed, for the API to check and name."""
        return {
            "name": self.name, "description": optional(self.description),
            "original_language": optional(self.original_language),
            "categories": self.categories, "status": self.status, "languages": self.languages,
            "interpretation_available": self.interpretation_available,
            "populations": self.populations, "migration_stages": self.migration_stages,
            "free_of_charge": self.free_of_charge, "accepts_referrals": self.accepts_referrals,
            "capacity": optional(self.capacity),
            "response_time_hours": optional(self.response_time_hours),
            "eligibility_description": optional(self.eligibility_description),
            "email": optional(self.email), "url": optional(self.url),
            "locations": [
                {**{name: optional(location[name]) for name in LOCATION_TEXTS},
                 "country": location["country"], "confidential": location["confidential"]}
                for location in self.locations
            ],
            "phones": [
                {"number": phone["number"], "type": optional(phone["type"]),
                 "description": optional(phone["description"]),
                 "languages": language_codes(phone["languages"])}
                for phone in self.phones
            ],
            "schedules": [
                {"byday": schedule["byday"], "opens_at": optional(schedule["opens_at"]),
                 "closes_at": optional(schedule["closes_at"]),
                 "description": optional(schedule["description"])}
                for schedule in self.schedules
            ],
        }


@dataclass
class TranslationsForm:
    """One row a language: its name and description; a row left empty removes it."""

    rows: list[Row] = field(default_factory=list)

    @classmethod
    def from_form(cls, form: FormData) -> "TranslationsForm":
        found = [row_of(form, "translation", index, ("language", *TRANSLATED_FIELDS))
                 for index in rows(form, "translation")]
        # A text without its language goes too: the API says what is missing, beside it.
        return cls([row for row in found if row["name"] or row["description"]])

    @classmethod
    def from_service(cls, service: dict[str, Any]) -> "TranslationsForm":
        by_language: dict[str, Row] = {}
        for translation in service["translations"]:
            row = by_language.setdefault(translation["language"], {
                "language": translation["language"], "name": "", "description": ""})
            row[translation["field"]] = translation["text"]
        return cls(list(by_language.values()))

    def api_translations(self) -> tuple[list[dict[str, str]], list[str]]:
        """The API's translations, and the form name of each (to place its errors)."""
        translations: list[dict[str, str]] = []
        names: list[str] = []
        for index, row in enumerate(self.rows):
            for translated in TRANSLATED_FIELDS:
                if row[translated]:
                    translations.append({"field": translated, "language": row["language"],
                                         "text": row[translated]})
                    names.append(f"translation-{index}-{translated}")
        return translations, names


def field_errors(error: ApiError, translation_names: list[str] | None = None) -> dict[str, str]:
    """The API's problem as messages by form name; "" holds what names no field. The API
    lists what it refused in `errors` (`location`, `message`) or RFC 9457 `invalid-params`
    (`name`, `reason`)."""
    found: dict[str, str] = {}
    for item in error.problem.get("errors") or []:
        location = [str(part) for part in item.get("location") or []]
        found.setdefault(form_name(location, translation_names or []), str(item.get("message", "")))
    for item in error.problem.get("invalid-params") or []:
        found.setdefault(form_name(str(item.get("name", "")).split("."), translation_names or []),
                         str(item.get("reason", "")))
    if not found:
        found[""] = error.detail
    return found


def form_name(location: list[str], translation_names: list[str]) -> str:
    """["body", "locations", "0", "latitude"] is `location-0-latitude`."""
    parts = location[1:] if location[:1] == ["body"] else location
    if not parts:
        return ""
    if parts[0] in ROW_NAMES and len(parts) > 1 and parts[1].isdigit():
        if parts[0] == "translations":
            index = int(parts[1])
            if index >= len(translation_names):
                return "translations"
            if parts[2:3] == ["language"]:  # the row's language, not its text
                return translation_names[index].rsplit("-", 1)[0] + "-language"
            return translation_names[index]
        return "-".join([ROW_NAMES[parts[0]], *parts[1:3]])
    return parts[0]
