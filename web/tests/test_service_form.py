"""The service form and the API's body it becomes, and the API's refusals put back beside the
field each names (no server needed)."""

from starlette.datastructures import FormData

from waymark_web.api import ApiError
from waymark_web.settings.schemas import ServiceForm, TranslationsForm, field_errors


def test_empty_rows_are_dropped_so_the_apis_row_numbers_are_the_forms() -> None:
    form = ServiceForm.from_form(FormData([
        ("name", " Clinic "), ("categories", "legal"), ("free_of_charge", "true"),
        ("location-0-country", "NP"),  # left empty
        ("location-1-city", "Pokhara"), ("location-1-country", "NP"),
        ("location-1-latitude", "100"), ("location-1-confidential", "true"),
        ("phone-0-number", ""), ("phone-3-number", "+977 61 520000"),
        ("phone-3-languages", "ne, HI"),
        ("schedule-0-byday", "SU"), ("schedule-0-byday", "MO"), ("schedule-0-byday", "XX"),
        ("languages", "en"), ("other_languages", "ur ps,en"),
    ]))
    body = form.api_body()
    assert body["name"] == "Clinic" and body["accepts_referrals"] is False
    assert body["free_of_charge"] is True and body["languages"] == ["en", "ur", "ps"]
    assert body["locations"] == [{
        "name": None, "address": None, "city": "Pokhara", "admin_area": None, "country": "NP",
        "latitude": "100", "longitude": None, "confidential": True,
    }]
    assert body["phones"] == [{"number": "+977 61 520000", "type": None, "description": None,
                               "languages": ["ne", "hi"]}]
    assert body["schedules"] == [{"byday": ["MO", "SU"], "opens_at": None, "closes_at": None,
                                  "description": None}]
    refused = ApiError(422, {"detail": "see errors", "errors": [
        {"location": ["body", "locations", 0, "latitude"], "message": "at most 90"},
        {"location": ["body", "locations", 0], "message": "give both"},
        {"location": ["body", "schedules", 0, "byday", 1], "message": "not a day"},
        {"location": ["body", "name"], "message": "too short"},
        {"location": ["body"], "message": "whole body"},
    ]})
    assert field_errors(refused) == {
        "location-0-latitude": "at most 90", "location-0": "give both",
        "schedule-0-byday": "not a day", "name": "too short", "": "whole body",
    }


def test_a_service_read_back_is_sent_unchanged() -> None:
    service = {
        "name": "Desk", "description": None, "original_language": "ne", "categories": ["legal"],
        "status": "active", "languages": ["ne"], "interpretation_available": True,
        "populations": ["returnees"], "migration_stages": ["return"], "free_of_charge": False,
        "accepts_referrals": True, "capacity": None, "response_time_hours": 24,
        "eligibility_description": None, "email": None, "url": None,
        "locations": [{"name": None, "address": None, "city": "Pokhara", "admin_area": None,
                       "country": "NP", "latitude": 28.2, "longitude": 83.9,
                       "confidential": False}],
        "phones": [{"number": "+977 1", "type": None, "description": None, "languages": ["ne"]}],
        "schedules": [{"byday": ["MO"], "opens_at": "09:00", "closes_at": "17:00",
                       "description": None}],
    }
    body = ServiceForm.from_service(service).api_body()
    assert body["response_time_hours"] == "24" and body["locations"][0]["latitude"] == "28.2"
    assert {**body, "response_time_hours": 24, "locations": service["locations"]} == service


def test_a_refused_translation_is_put_beside_its_row_and_field() -> None:
    form = TranslationsForm.from_form(FormData([
        ("translation-0-language", "fr"), ("translation-0-name", ""),
        ("translation-0-description", "Conseils"),
        ("translation-1-language", ""), ("translation-1-name", "Centro"),
        ("translation-2-language", "ar"),  # nothing written: not a translation
    ]))
    translations, names = form.api_translations()
    assert translations == [
        {"field": "description", "language": "fr", "text": "Conseils"},
        {"field": "name", "language": "", "text": "Centro"},
    ]
    refused = ApiError(422, {"errors": [
        {"location": ["body", "translations", 1, "language"], "message": "a code"},
        {"location": ["body", "translations", 0, "text"], "message": "too long"},
    ], "invalid-params": [{"name": "translations", "reason": "one per language"}]})
    assert field_errors(refused, names) == {
        "translation-1-language": "a code", "translation-0-description": "too long",
        "translations": "one per language",
    }
    assert field_errors(ApiError(422, {"detail": "Not in its own language."})) == {
        "": "Not in its own language."}
