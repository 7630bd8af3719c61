"""The network's administration, for its network_admin: verifying organisations, importing
and exporting the directory as HSDS, and the referral statistics drawn as charts. Every
figure, check and refusal is the API's; these pages only show them."""

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from babel.dates import format_date
from fastapi import APIRouter, Depends, Query
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from waymark_web.admin.charts import Chart, bar_chart
from waymark_web.api import ApiError
from waymark_web.context import CheckedForm, CheckedUpload, NotFound, SignedIn, Visit
from waymark_web.i18n import activate, current, deactivate, gettext
from waymark_web.pages import country_name, number
from waymark_web.vocabulary import label

router = APIRouter(prefix="/admin")
ORGANIZATION_TYPES = ("national_society", "cso", "government", "international",
                      "migrant_association")
VERIFICATION_FILTERS = ("false", "true", "")  # awaiting verification first, verified, all
GROUPINGS = ("corridor", "month", "urgency", "status", "category")
ZIP = "application/zip"
ZIP_SIGNATURE = b"PK\x03\x04"
IMPORT_TIMEOUT_SECONDS = 300.0  # as long as the gateway lets an import run
LONGEST_CHART_LABEL = 44  # on the chart's one line; the table gives it whole
Text = Annotated[str, Query(max_length=200)]


async def network_admin(visit: SignedIn) -> Visit:
    """The network's administration exists only for a network admin: to anyone else, nothing
    is here (as the settings for anyone but an organisation's admin)."""
    if "network_admin" not in visit.roles:
        raise NotFound()
    return visit


Admin = Annotated[Visit, Depends(network_admin)]


@router.get("")
async def admin_home(_: Admin) -> Response:
    return RedirectResponse("/admin/organizations", status_code=303)


@router.get("/organizations")
async def organizations(
    visit: Admin, q: Text = "", country: Text = "", type: Text = "",
    verified: Literal["false", "true", ""] = "false", cursor: Text = "",
    changed: uuid.UUID | None = None,
) -> Response:
    """Awaiting verification first: the page opens on the organisations still to verify."""
    filters = {"q": q.strip(), "country": country, "type": type, "verified": verified}
    parameters: dict[str, Any] = {name: value for name, value in filters.items() if value}
    listed = await visit.api.get("/v1/organizations", {**parameters, "limit": 50,
                                                       **({"cursor": cursor} if cursor else {})})
    countries = (await visit.api.get("/v1/countries"))["items"]
    return visit.render(
        "admin/organizations.html", organizations=listed["items"], filters=filters,
        next_cursor=listed.get("next_cursor"), countries=countries,
        organization_types=ORGANIZATION_TYPES, verification_filters=VERIFICATION_FILTERS,
        changed=await visit.api.get(f"/v1/organizations/{changed}") if changed else None,
    )


@router.post("/organizations/{organization_id}")
async def change_verification(
    visit: Admin, organization_id: uuid.UUID, form: CheckedForm,
) -> Response:
    """`action`: `verify` or `withdraw`; back to the same list, which says what changed."""
    verified = {"verify": True, "withdraw": False}.get(str(form.get("action")))
    if verified is None:
        raise NotFound()  # no such change
    await visit.api.send("PATCH", f"/v1/organizations/{organization_id}", {"verified": verified})
    filters = {name: str(form.get(name, "")) for name in ("q", "country", "type", "verified")}
    query = urlencode({**filters, "changed": str(organization_id)})
    return RedirectResponse(f"/admin/organizations?{query}", status_code=303)


@router.get("/directory")
async def directory(visit: Admin) -> Response:
    return visit.render("admin/directory.html", report=None, refusal=None, errors=[])


@router.get("/directory/export.{kind}")
async def export(visit: Admin, kind: Literal["zip", "json"]) -> Response:
    """The whole directory from the API, as a CSV package or a JSON dataset, to save."""
    accept = ZIP if kind == "zip" else "application/json"
    answer = await visit.api.call("GET", "/v1/hsds/dataset", headers={"accept": accept},
                                  timeout=IMPORT_TIMEOUT_SECONDS)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    return Response(answer.content, media_type=accept, headers={
        "content-disposition": f'attachment; filename="waymark-directory-{stamp}.{kind}"',
    })


@router.post("/directory/import")
async def import_directory(visit: Admin, form: CheckedUpload) -> Response:
    """`mode`: `dry-run` (the report, nothing changed) or `apply`. A zip is sent as a CSV
    package, anything else as a JSON dataset; the API checks, limits and refuses."""
    upload = form.get("file")
    dry_run = form.get("mode") != "apply"
    if not isinstance(upload, UploadFile) or not upload.filename:
        return visit.render("admin/directory.html", status=422, report=None, errors=[],
                            refusal=None, no_file=True)
    body = await upload.read()
    media_type = ZIP if body.startswith(ZIP_SIGNATURE) else "application/json"
    try:
        report = await visit.api.send(
            "POST", "/v1/hsds/dataset", content=body, headers={"content-type": media_type},
            params={"dry_run": "true" if dry_run else "false"}, timeout=IMPORT_TIMEOUT_SECONDS,
        )
    except ApiError as error:
        if not 400 <= error.status < 500 or error.status in (401, 403, 404):
            raise
        return visit.render("admin/directory.html", status=error.status, report=None,
                            refusal=error.detail, errors=error.problem.get("errors") or [],
                            filename=upload.filename)
    return visit.render("admin/directory.html", report=report, refusal=None, errors=[],
                        filename=upload.filename)


def group_label(group_by: str, key: dict[str, str], categories: dict[str, str]) -> str:
    match group_by:
        case "corridor":
            return gettext("%(origin)s to %(destination)s") % {
                "origin": country_name(key["from_country"]),
                "destination": country_name(key["to_country"]),
            }
        case "category":
            return categories.get(key["category"], key["category"]) or gettext("No category")
        case "urgency" | "status":
            return label(group_by, key[group_by])
        case _:
            return format_month(key["month"])


def format_month(month: str) -> str:
    """`2026-11` as the visitor's language writes a month."""
    year, month_number = month.split("-")
    return format_date(date(int(year), int(month_number), 1), "MMMM y", locale=current().code)


def shortened(text: str) -> str:
    return text if len(text) <= LONGEST_CHART_LABEL else text[:LONGEST_CHART_LABEL - 1] + "…"


def charts_of(visit: Visit, stats: dict[str, Any], labels: list[str]) -> list[Chart]:
    """Counts, median hours to the first answer, and share answered in time, by group: each
    exactly as published ("<5", null), none estimated."""
    right_to_left = visit.language.direction == "rtl"
    groups = stats["groups"]
    counts = [(shortened(name), None if group["count"] == "<5" else float(group["count"]),
               "<5" if group["count"] == "<5" else number(group["count"]))
              for name, group in zip(labels, groups, strict=True)]
    hours = [(shortened(name), group["median_hours_to_response"],
              "—" if group["median_hours_to_response"] is None
              else number(group["median_hours_to_response"]))
             for name, group in zip(labels, groups, strict=True)]
    shares = [(shortened(name), None if share is None else share * 100,
               "—" if share is None else f"{number(round(share * 100))} %")
              for name, share in ((name, group["answered_within_respond_by"])
                                  for name, group in zip(labels, groups, strict=True))]
    withheld = gettext("Counts from 1 to 4 are shown as “<5” and drawn as an empty bar; a dash "
                       "marks a figure not published because fewer than 5 referrals make it.")
    return [
        bar_chart("count", gettext("Referrals requested"), withheld, counts,
                  right_to_left=right_to_left),
        bar_chart("hours", gettext("Median hours to the first answer"), withheld, hours,
                  right_to_left=right_to_left),
        bar_chart("in-time", gettext("Share answered in time"), withheld, shares,
                  right_to_left=right_to_left, maximum=100),
    ]


@router.get("/statistics")
async def statistics(
    visit: Admin, group_by: Literal["corridor", "month", "urgency", "status", "category"]
    = "corridor",
) -> Response:
    stats = await visit.api.get("/v1/stats/referrals", {"group_by": group_by})
    categories: dict[str, str] = {}
    if group_by == "category":
        categories = {item["code"]: item["names"].get(visit.language.code) or item["name"]
                      for item in (await visit.api.get("/v1/taxonomy"))["items"]}
    language = activate(visit.language)  # the labels and charts' words, as the page's
    try:
        labels = [group_label(group_by, group["key"], categories) for group in stats["groups"]]
        charts = charts_of(visit, stats, labels) if stats["groups"] else []
    finally:
        deactivate(language)
    return visit.render(
        "admin/statistics.html", stats=stats, group_by=group_by, groupings=GROUPINGS,
        rows=list(zip(labels, stats["groups"], strict=True)), charts=charts,
    )
