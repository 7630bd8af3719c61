"""The organisation's settings, for its org_admin: its people (invitations, roles,
deactivation, second factor), its API clients, its webhook subscriptions and its services
(published, changed, translated, kept current). A secret the API
shows once is shown once here too, on the page that answers the form."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from waymark_web.api import ApiError
from waymark_web.context import CheckedForm, NotFound, SignedIn, Visit
from waymark_web.directory.router import PROGRAMME_LANGUAGES, taxonomy
from waymark_web.settings.schemas import ServiceForm, TranslationsForm, field_errors

router = APIRouter(prefix="/settings")
GRANTABLE_ROLES = ("caseworker", "viewer", "org_admin")


async def org_admin(visit: SignedIn) -> Visit:
    """Settings exist only for an organisation's admin: to anyone else, nothing is here."""
    if "org_admin" not in visit.roles:
        raise NotFound()
    return visit


Admin = Annotated[Visit, Depends(org_admin)]


def roles_from(form: FormData) -> list[str]:
    return [str(role) for role in form.getlist("roles") if role in GRANTABLE_ROLES]


@router.get("")
async def settings_home(_: Admin) -> Response:
    return RedirectResponse("/settings/people", status_code=303)


async def people_page(visit: Visit, *, invited: dict[str, Any] | None = None,
                      error: str | None = None, status: int = 200) -> Response:
    organization = visit.organization_id
    people = await visit.api.get(f"/v1/organizations/{organization}/people", {"limit": 100})
    invitations = await visit.api.get(f"/v1/organizations/{organization}/invitations",
                                      {"limit": 100})
    return visit.render("settings/people.html", status=status, people=people["items"],
                        invitations=invitations["items"], invited=invited, error=error,
                        grantable_roles=GRANTABLE_ROLES)


@router.get("/people")
async def people(visit: Admin) -> Response:
    return await people_page(visit)


@router.post("/people/invitations")
async def invite(visit: Admin, form: CheckedForm) -> Response:
    try:
        invited = await visit.api.send(
            "POST", f"/v1/organizations/{visit.organization_id}/invitations",
            {"email": str(form.get("email", "")).strip(), "roles": roles_from(form)},
        )
    except ApiError as error:
        if error.status not in (409, 422):
            raise
        return await people_page(visit, error=error.detail, status=error.status)
    return await people_page(visit, invited=invited, status=201)


@router.post("/people/{person_id}")
async def change_person(visit: Admin, person_id: str, form: CheckedForm) -> Response:
    """`action`: `roles` (the ticked ones), `deactivate`, or `reset-second-factor`."""
    action = form.get("action")
    try:
        if action == "reset-second-factor":
            await visit.api.send("POST", f"/v1/people/{person_id}/second-factor/reset")
        else:
            change = {"active": False} if action == "deactivate" else {"roles": roles_from(form)}
            await visit.api.send("PATCH", f"/v1/people/{person_id}", change)
    except ApiError as error:
        if error.status not in (409, 422):
            raise
        return await people_page(visit, error=error.detail, status=error.status)
    return RedirectResponse("/settings/people", status_code=303)


async def clients_page(visit: Visit, *, created: dict[str, Any] | None = None,
                       error: str | None = None, status: int = 200) -> Response:
    clients = await visit.api.get(f"/v1/organizations/{visit.organization_id}/clients",
                                  {"limit": 100})
    return visit.render("settings/clients.html", status=status, clients=clients["items"],
                        created=created, error=error, grantable_roles=GRANTABLE_ROLES)


@router.get("/clients")
async def clients(visit: Admin) -> Response:
    return await clients_page(visit)


@router.post("/clients")
async def create_client(visit: Admin, form: CheckedForm) -> Response:
    try:
        created = await visit.api.send(
            "POST", f"/v1/organizations/{visit.organization_id}/clients",
            {"name": str(form.get("name", "")).strip(), "roles": roles_from(form)},
        )
    except ApiError as error:
        if error.status != 422:
            raise
        return await clients_page(visit, error=error.detail, status=422)
    return await clients_page(visit, created=created, status=201)


@router.post("/clients/{client_id}/revoke")
async def revoke_client(visit: Admin, client_id: str, _: CheckedForm) -> Response:
    await visit.api.send("DELETE", f"/v1/organizations/{visit.organization_id}/clients/{client_id}")
    return RedirectResponse("/settings/clients", status_code=303)


async def webhooks_page(visit: Visit, *, created: dict[str, Any] | None = None,
                        error: str | None = None, status: int = 200) -> Response:
    subscriptions = await visit.api.get("/v1/subscriptions", {"limit": 100})
    event_types = await visit.api.get("/v1/event-types")
    return visit.render(
        "settings/webhooks.html", status=status, subscriptions=subscriptions["items"],
        event_types=[item["type"] for item in event_types["items"]], created=created,
        error=error,
    )


@router.get("/webhooks")
async def webhooks(visit: Admin) -> Response:
    return await webhooks_page(visit)


@router.post("/webhooks")
async def subscribe(visit: Admin, form: CheckedForm) -> Response:
    subscription: dict[str, Any] = {
        "url": str(form.get("url", "")).strip(),
        "event_types": [str(kind) for kind in form.getlist("event_types")],
    }
    if description := str(form.get("description", "")).strip():
        subscription["description"] = description
    try:
        created = await visit.api.send("POST", "/v1/subscriptions", subscription)
    except ApiError as error:
        if error.status != 422:
            raise
        return await webhooks_page(visit, error=error.detail, status=422)
    return await webhooks_page(visit, created=created, status=201)


@router.get("/webhooks/{subscription_id}")
async def subscription_page(visit: Admin, subscription_id: str) -> Response:
    subscription = await visit.api.get(f"/v1/subscriptions/{subscription_id}")
    deliveries = await visit.api.get(f"/v1/subscriptions/{subscription_id}/deliveries",
                                     {"limit": 50})
    return visit.render("settings/subscription.html", subscription=subscription,
                        deliveries=deliveries["items"], rotated=None)


@router.post("/webhooks/{subscription_id}")
async def change_subscription(visit: Admin, subscription_id: str, form: CheckedForm) -> Response:
    """`action`: `test`, `rotate-secret` (the new secret shown once) or `delete`."""
    path = f"/v1/subscriptions/{subscription_id}"
    action = form.get("action")
    if action == "delete":
        await visit.api.send("DELETE", path)
        return RedirectResponse("/settings/webhooks", status_code=303)
    if action == "rotate-secret":
        rotated = await visit.api.send("POST", f"{path}/rotate-secret")
        deliveries = await visit.api.get(f"{path}/deliveries", {"limit": 50})
        return visit.render("settings/subscription.html", subscription=rotated,
                            deliveries=deliveries["items"], rotated=rotated["secret"])
    await visit.api.send("POST", f"{path}/test")
    return RedirectResponse(f"/settings/webhooks/{subscription_id}", status_code=303)


async def services_page(visit: Visit, *, error: str | None = None, status: int = 200) -> Response:
    services = await visit.api.get(
        "/v1/services", {"organization_id": visit.organization_id, "limit": 100}
    )
    return visit.render("settings/services.html", status=status, services=services["items"],
                        error=error)


@router.get("/services")
async def own_services(visit: Admin) -> Response:
    return await services_page(visit)


async def own_service(visit: Visit, service_id: uuid.UUID) -> dict[str, Any]:
    """The service as written (its original language, every place in full), if it is her
    organisation's: another organisation's is not hers to change, so it is not here."""
    service: dict[str, Any] = await visit.api.get_original(f"/v1/services/{service_id}")
    if service["organization_id"] != visit.organization_id:
        raise NotFound()
    return service


async def service_form_page(
    visit: Visit, form: ServiceForm, service: dict[str, Any] | None, *,
    errors: dict[str, str] | None = None, status: int = 200,
) -> Response:
    organization = await visit.api.get(f"/v1/organizations/{visit.organization_id}")
    countries = [item["code"] for item in (await visit.api.get("/v1/countries"))["items"]]
    for code in [organization["country"], *(row["country"] for row in form.locations)]:
        if code and code not in countries:
            countries.append(code)
    return visit.render(
        "settings/service.html", status=status, form=form, service=service,
        errors=errors or {}, categories=await taxonomy(visit), countries=countries,
        home_country=organization["country"], programme_languages=PROGRAMME_LANGUAGES,
    )


@router.get("/services/new")
async def new_service(visit: Admin) -> Response:
    return await service_form_page(visit, ServiceForm(original_language=visit.language.code), None)


@router.post("/services/new")
async def create_service(visit: Admin, form: CheckedForm) -> Response:
    filled = ServiceForm.from_form(form)
    try:
        created = await visit.api.send("POST", "/v1/services", filled.api_body())
    except ApiError as error:
        if error.status != 422:
            raise
        return await service_form_page(visit, filled, None, errors=field_errors(error),
                                       status=422)
    return RedirectResponse(f"/services/{created['id']}", status_code=303)


@router.get("/services/{service_id}")
async def edit_service(visit: Admin, service_id: uuid.UUID) -> Response:
    service = await own_service(visit, service_id)
    return await service_form_page(visit, ServiceForm.from_service(service), service)


@router.post("/services/{service_id}")
async def change_service(visit: Admin, service_id: uuid.UUID, form: CheckedForm) -> Response:
    """`action`: `save` (the whole profile), `confirm` (still accurate), or `update` (status
    and capacity, from the list)."""
    service = await own_service(visit, service_id)
    path = f"/v1/services/{service_id}"
    action = form.get("action")
    if action == "save":
        filled = ServiceForm.from_form(form)
        try:
            await visit.api.send("PATCH", path, filled.api_body())
        except ApiError as error:
            if error.status != 422:
                raise
            return await service_form_page(visit, filled, service, errors=field_errors(error),
                                           status=422)
        return RedirectResponse(f"/services/{service_id}", status_code=303)
    try:
        if action == "confirm":
            await visit.api.send("POST", f"{path}/confirmation")
        else:
            await visit.api.send("PATCH", path, {
                "status": str(form.get("status", "")),
                "capacity": str(form.get("capacity", "")) or None,
            })
    except ApiError as error:
        if error.status != 422:
            raise
        return await services_page(visit, error=error.detail, status=422)
    return RedirectResponse("/settings/services", status_code=303)


def translations_page(
    visit: Visit, service: dict[str, Any], form: TranslationsForm, *,
    errors: dict[str, str] | None = None, status: int = 200,
) -> Response:
    taken = {row["language"] for row in form.rows} | {service["original_language"]}
    return visit.render(
        "settings/translations.html", status=status, service=service, form=form,
        errors=errors or {},
        saved=visit.request.query_params.get("saved") == "true",
        open_languages=[code for code in PROGRAMME_LANGUAGES if code not in taken],
    )


@router.get("/services/{service_id}/translations")
async def service_translations(visit: Admin, service_id: uuid.UUID) -> Response:
    service = await own_service(visit, service_id)
    return translations_page(visit, service, TranslationsForm.from_service(service))


@router.post("/services/{service_id}/translations")
async def change_translations(visit: Admin, service_id: uuid.UUID, form: CheckedForm) -> Response:
    """Every translation at once: the API replaces them whole."""
    service = await own_service(visit, service_id)
    filled = TranslationsForm.from_form(form)
    translations, names = filled.api_translations()
    try:
        await visit.api.send("PATCH", f"/v1/services/{service_id}",
                             {"translations": translations})
    except ApiError as error:
        if error.status != 422:
            raise
        return translations_page(visit, service, filled, errors=field_errors(error, names),
                                 status=422)
    return RedirectResponse(f"/settings/services/{service_id}/translations?saved=true",
                            status_code=303)
