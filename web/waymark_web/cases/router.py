"""Cases: the people the organisation supports, the legal basis for sharing their data, and
referring them to a service (with a preview of exactly what the receiver will see)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from waymark_web.api import ApiError
from waymark_web.context import CheckedForm, SignedIn, Visit
from waymark_web.directory.router import PROGRAMME_LANGUAGES, countries
from waymark_web.vocabulary import codes

router = APIRouter()
TEXT_FIELDS = ("given_name", "family_name", "phone", "safe_contact")
CHOICE_FIELDS = ("sex", "nationality", "current_country")


def person_from(form: FormData) -> dict[str, Any]:
    """The person as the API takes it: only what was filled in."""
    person: dict[str, Any] = {}
    for name in (*TEXT_FIELDS, *CHOICE_FIELDS, "date_of_birth"):
        if value := str(form.get(name, "")).strip():
            person[name] = value
    if (age := str(form.get("age_estimate", "")).strip()).isdigit():
        person["age_estimate"] = int(age)
    languages = [str(code) for code in form.getlist("languages") if code in PROGRAMME_LANGUAGES]
    if languages:
        person["languages"] = languages
    return person


@router.get("/cases")
async def list_cases(visit: SignedIn, reference: str = "") -> Response:
    parameters = {"limit": 50, **({"reference": reference.strip()[:32]} if reference.strip() else {})}
    page = await visit.api.get("/v1/cases", parameters)
    return visit.render("cases/list.html", cases=page["items"], reference=reference)


async def _new_case_page(visit: Visit, form: FormData | None = None, error: str | None = None,
                         status: int = 200) -> Response:
    return visit.render(
        "cases/new.html", status=status, countries=await countries(visit), form=form or {},
        programme_languages=PROGRAMME_LANGUAGES, error=error,
    )


@router.get("/cases/new")
async def new_case_page(visit: SignedIn) -> Response:
    return await _new_case_page(visit)


@router.post("/cases/new")
async def create_case(visit: SignedIn, form: CheckedForm) -> Response:
    vulnerabilities = [str(code) for code in form.getlist("vulnerabilities")
                       if code in codes("vulnerability")]
    try:
        case = await visit.api.send("POST", "/v1/cases", {
            "person": person_from(form), "vulnerabilities": vulnerabilities,
        })
    except ApiError as error:
        if error.status != 422:
            raise
        return await _new_case_page(visit, form, error.detail, status=422)
    return RedirectResponse(f"/cases/{case['id']}", status_code=303)


async def case_page(
    visit: Visit, case_id: uuid.UUID, *, service_id: str | None = None, error: str | None = None,
    preview: dict[str, Any] | None = None, withdrawn: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    case = await visit.api.get(f"/v1/cases/{case_id}")
    journey = (await visit.api.get(f"/v1/cases/{case_id}/journey"))["items"]
    service = None
    if service_id:
        try:
            service = await visit.api.get(f"/v1/services/{uuid.UUID(service_id)}")
        except (ApiError, ValueError):
            service = None
    return visit.render(
        "cases/case.html", status=status, case=case, journey=journey, service=service,
        countries=await countries(visit), error=error, preview=preview, withdrawn=withdrawn,
        now=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"), idempotency_key=uuid.uuid4(),
    )


@router.get("/cases/{case_id}")
async def show_case(visit: SignedIn, case_id: uuid.UUID, service: str | None = None) -> Response:
    return await case_page(visit, case_id, service_id=service)


@router.post("/cases/{case_id}/consent")
async def record_consent(visit: SignedIn, case_id: uuid.UUID, form: CheckedForm) -> Response:
    given_at = str(form.get("given_at", "")).strip()
    record: dict[str, Any] = {
        "legal_basis": str(form.get("legal_basis", "")),
        "given_at": f"{given_at}:00Z" if len(given_at) == 16 else given_at,
    }
    scope_countries = [str(code) for code in form.getlist("scope_countries")]
    if scope_countries:
        record["scope"] = [{"countries": scope_countries}]
    for name in ("method", "notes", "justification"):
        if value := str(form.get(name, "")).strip():
            record[name] = value
    try:
        await visit.api.send("PUT", f"/v1/cases/{case_id}/consent", record)
    except ApiError as error:
        if error.status != 422:
            raise
        return await case_page(visit, case_id, error=error.detail, status=422)
    return RedirectResponse(f"/cases/{case_id}#refer", status_code=303)


@router.post("/cases/{case_id}/consent/withdraw")
async def withdraw_consent(visit: SignedIn, case_id: uuid.UUID, _: CheckedForm) -> Response:
    withdrawn = await visit.api.send("DELETE", f"/v1/cases/{case_id}/consent")
    return await case_page(visit, case_id, withdrawn=withdrawn)


def referral_from(form: FormData, case_id: uuid.UUID, service: dict[str, Any]) -> dict[str, Any]:
    return {
        "case_id": str(case_id), "receiver_org_id": service["organization_id"],
        "service_id": service["id"], "categories": service["categories"][:20],
        "migration_stage": str(form.get("migration_stage", "destination")),
        "urgency": str(form.get("urgency", "normal")),
        "reason": str(form.get("reason", "")).strip(),
        "shared_fields": [str(name) for name in form.getlist("shared_fields")
                          if name in codes("person_field")],
    }


@router.post("/cases/{case_id}/referrals")
async def refer(visit: SignedIn, case_id: uuid.UUID, form: CheckedForm) -> Response:
    """`preview`: the page again, showing what the receiver would see; `send`: the referral."""
    service_id = str(form.get("service_id", ""))
    try:
        service = await visit.api.get(f"/v1/services/{uuid.UUID(service_id)}")
    except (ApiError, ValueError):
        return await case_page(visit, case_id, error="service", status=422)
    referral = referral_from(form, case_id, service)
    if form.get("action") != "send" or not referral["reason"]:
        return await case_page(visit, case_id, service_id=service_id, preview=referral,
                               error=None if referral["reason"] else "reason")
    try:
        created = await visit.api.send(
            "POST", "/v1/referrals", referral,
            headers={"idempotency-key": str(form.get("idempotency_key", ""))[:255] or str(uuid.uuid4())},
        )
    except ApiError as error:
        if error.status not in (409, 422):
            raise
        return await case_page(visit, case_id, service_id=service_id, preview=referral,
                               error=error.detail, status=error.status)
    return RedirectResponse(f"/referrals/{created['id']}", status_code=303)
