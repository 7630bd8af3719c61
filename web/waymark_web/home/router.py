"""The start page: received referrals that wait for an answer, the most pressing first, then
the rest of what moves."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from waymark_web.context import SignedIn
from waymark_web.referrals.router import organization_names

router = APIRouter()
WAITING = ("requested", "received")
LATEST = datetime.max.isoformat()


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
    return visit.render("home/start.html", waiting=waiting, others=others, names=names)
