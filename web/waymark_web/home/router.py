"""The start page: what changed since the organisation last looked (its inbox), received
referrals that wait for an answer, the most pressing first, then the rest of what moves."""

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from waymark_web.context import CheckedForm, SignedIn
from waymark_web.referrals.router import organization_names

router = APIRouter()
WAITING = ("requested", "received")
LATEST = "9999-12-31T23:59:59.999999"  # after every respond_by


def by_respond_by(referral: dict[str, Any]) -> tuple[bool, str]:
    return (not referral["overdue"], referral["respond_by"] or LATEST)


@router.get("/")
async def start(visit: SignedIn) -> Response:
    received = (await visit.api.get(
        "/v1/referrals", {"role": "received", "status": list(WAITING), "limit": 100}
    ))["items"]
    others = [
        referral for referral in (await visit.api.get("/v1/referrals", {"limit": 20}))["items"]
        if not (referral["receiver_org_id"] == visit.organization_id and referral["status"] in WAITING)
    ]
    waiting = sorted(received, key=by_respond_by)
    names = await organization_names(
        visit, {r["sender_org_id"] for r in waiting + others}
        | {r["receiver_org_id"] for r in waiting + others}
    )
    news = await visit.api.get("/v1/inbox", {"unread": "true", "limit": 20})
    return visit.render("home/start.html", waiting=waiting, others=others, names=names,
                        news=news["items"], unread_count=news["unread_count"])


@router.post("/inbox/{notification_id}/read")
async def seen(visit: SignedIn, notification_id: uuid.UUID, _: CheckedForm) -> Response:
    await visit.api.send("POST", f"/v1/inbox/{notification_id}/read")
    return RedirectResponse("/#news-title", status_code=303)
