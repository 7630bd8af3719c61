"""The organisation's settings, for its org_admin: its people (invitations, roles,
deactivation, second factor), its API clients and its webhook subscriptions. A secret the API
shows once is shown once here too, on the page that answers the form."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from waymark_web.api import ApiError
from waymark_web.context import CheckedForm, NotFound, SignedIn, Visit

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


@router.post("/services/{service_id}")
async def change_service(visit: Admin, service_id: uuid.UUID, form: CheckedForm) -> Response:
    """`action`: `confirm` (still accurate), or `update` (status and capacity)."""
    path = f"/v1/services/{service_id}"
    try:
        if form.get("action") == "confirm":
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
