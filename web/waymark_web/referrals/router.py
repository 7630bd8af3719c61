"""Referrals sent and received: one with its history and comments, and the answers the
contract allows its sender or receiver to give."""

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from waymark_web.api import ApiError
from waymark_web.cases.router import referral_from
from waymark_web.context import CheckedForm, SignedIn, Visit

router = APIRouter()
FINAL = frozenset({"rejected", "completed", "failed", "cancelled"})
ANSWERS_OF_RECEIVER = {
    "requested": ("accepted", "rejected"), "received": ("accepted", "rejected"),
    "accepted": ("in_progress", "completed"), "in_progress": ("completed",),
    "on_hold": ("in_progress", "completed"),
}
ANSWERS_OF_SENDER = {"draft": ("cancelled",), "requested": ("cancelled",), "received": ("cancelled",)}
ONWARD_FROM = frozenset({"accepted", "in_progress", "on_hold", "completed"})
FILTER_STATUSES = ("requested", "received", "accepted", "in_progress", "completed", "rejected")


async def organization_names(visit: Visit, ids: set[str]) -> dict[str, str]:
    async def name_of(organization_id: str) -> tuple[str, str]:
        try:
            return organization_id, (await visit.api.get(f"/v1/organizations/{organization_id}"))["name"]
        except ApiError:
            return organization_id, ""
    return dict(await asyncio.gather(*(name_of(id_) for id_ in ids)))


@router.get("/referrals")
async def list_referrals(visit: SignedIn, role: str = "", status: str = "") -> Response:
    parameters: dict[str, Any] = {"limit": 50}
    if role in ("sent", "received"):
        parameters["role"] = role
    if status in FILTER_STATUSES:
        parameters["status"] = status
    referrals = (await visit.api.get("/v1/referrals", parameters))["items"]
    names = await organization_names(
        visit, {r["sender_org_id"] for r in referrals} | {r["receiver_org_id"] for r in referrals}
    )
    return visit.render("referrals/list.html", referrals=referrals, names=names, role=role,
                        chosen_status=status, statuses=FILTER_STATUSES)


async def referral_page(
    visit: Visit, referral_id: uuid.UUID, error: str | None = None, status: int = 200,
    onward_service_id: str | None = None,
) -> Response:
    path = f"/v1/referrals/{referral_id}"
    referral = await visit.api.get(path)
    history, comments = await asyncio.gather(
        visit.api.get(f"{path}/history", {"limit": 100}),
        visit.api.get(f"{path}/comments", {"limit": 100}),
    )
    service = None
    if referral["service_id"]:
        try:
            service = await visit.api.get(f"/v1/services/{referral['service_id']}")
        except ApiError:
            service = None
    names = await organization_names(
        visit, {referral["sender_org_id"], referral["receiver_org_id"]}
        | {comment["author_org_id"] for comment in comments["items"]}
    )
    received = referral["receiver_org_id"] == visit.organization_id
    answers = (ANSWERS_OF_RECEIVER if received else ANSWERS_OF_SENDER).get(referral["status"], ())
    may_refer_on = received and referral["status"] in ONWARD_FROM
    onward_service = None
    if may_refer_on and onward_service_id:
        try:
            onward_service = await visit.api.get(f"/v1/services/{uuid.UUID(onward_service_id)}")
        except (ApiError, ValueError):
            onward_service = None
    return visit.render(
        "referrals/referral.html", status=status, referral=referral, service=service,
        history=history["items"], comments=comments["items"], names=names, received=received,
        answers=answers, error=error, may_refer_on=may_refer_on, onward_service=onward_service,
        idempotency_key=uuid.uuid4(),
    )


@router.get("/referrals/{referral_id}")
async def show_referral(
    visit: SignedIn, referral_id: uuid.UUID, service: str | None = None
) -> Response:
    return await referral_page(visit, referral_id, onward_service_id=service)


@router.post("/referrals/{referral_id}/onward")
async def refer_onward(visit: SignedIn, referral_id: uuid.UUID, form: CheckedForm) -> Response:
    """The receiver refers the person on (transit to destination): a new leg of the journey."""
    service_id = str(form.get("service_id", ""))
    try:
        service = await visit.api.get(f"/v1/services/{uuid.UUID(service_id)}")
    except (ApiError, ValueError):
        return await referral_page(visit, referral_id, error="service", status=422)
    leg = {key: value for key, value in referral_from(form, referral_id, service).items()
           if key != "case_id"}
    try:
        created = await visit.api.send(
            "POST", f"/v1/referrals/{referral_id}/onward", leg,
            headers={"idempotency-key": str(form.get("idempotency_key", ""))[:255] or str(uuid.uuid4())},
        )
    except ApiError as error:
        if error.status not in (409, 422):
            raise
        return await referral_page(visit, referral_id, error=error.detail, status=error.status,
                                   onward_service_id=service_id)
    return RedirectResponse(f"/referrals/{created['id']}", status_code=303)


@router.post("/referrals/{referral_id}/transitions")
async def answer(visit: SignedIn, referral_id: uuid.UUID, form: CheckedForm) -> Response:
    change: dict[str, Any] = {"to": str(form.get("to", ""))}
    for name in ("reason", "note", "outcome"):
        if value := str(form.get(name, "")).strip():
            change[name] = value
    try:
        await visit.api.send(
            "POST", f"/v1/referrals/{referral_id}/transitions", change,
            headers={"if-match": f'"{str(form.get("version", ""))[:20]}"'},
        )
    except ApiError as error:
        if error.status not in (409, 412, 422, 428):
            raise
        reason = "changed" if error.status in (409, 412, 428) else error.detail
        return await referral_page(visit, referral_id, error=reason, status=error.status)
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)


@router.post("/referrals/{referral_id}/comments")
async def comment(visit: SignedIn, referral_id: uuid.UUID, form: CheckedForm) -> Response:
    text = str(form.get("text", "")).strip()
    if not text:
        return await referral_page(visit, referral_id, error="empty", status=422)
    try:
        await visit.api.send("POST", f"/v1/referrals/{referral_id}/comments", {"text": text})
    except ApiError as error:
        if error.status != 422:
            raise
        return await referral_page(visit, referral_id, error=error.detail, status=422)
    return RedirectResponse(f"/referrals/{referral_id}#comments", status_code=303)
