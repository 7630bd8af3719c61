"""Crosswalks (network_admin): the shipped examples and those uploaded, chosen by name for an
import (`POST /v1/hsds/dataset?crosswalk=NAME`) or an HSDS source."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response, status
from waymark_kernel.api import Page
from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import Problem

from waymark_registry.crosswalks import service
from waymark_registry.crosswalks.schemas import CrosswalkName, CrosswalkRead
from waymark_registry.versions import etag

router = APIRouter(prefix="/v1/hsds/crosswalks", tags=["hsds"])
CSV = "text/csv"
NamePath = Annotated[CrosswalkName, Path(description="Lower-case letters, digits, _ and -")]
IfMatch = Annotated[str | None, Header(max_length=200)]
CSV_BODY = {"requestBody": {"required": True, "content": {CSV: {"schema": {
    "type": "string", "description": "CSV with the header taxonomy,code,category: a term of "
    "a taxonomy whose name contains `taxonomy` and whose code begins with `code` maps to the "
    "Waymark category `category`; the longest code wins",
}}}}}


@router.get("", summary="Every crosswalk: the shipped examples, then those uploaded "
            "(network_admin)")
async def list_crosswalks(identity: CurrentIdentity, session: SessionDep) -> Page[CrosswalkRead]:
    service.ensure_network_admin(identity)
    return Page(items=await service.list_crosswalks(session))


@router.get("/{name}", summary="A crosswalk's CSV (network_admin)", response_class=Response,
            responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}})
async def get_crosswalk(name: NamePath, identity: CurrentIdentity, session: SessionDep) -> Response:
    service.ensure_network_admin(identity)
    text, version = await service.crosswalk_text(session, name)
    return Response(text, media_type=f"{CSV}; charset=utf-8", headers={"ETag": etag(version)})


@router.put(
    "/{name}", summary="Upload a crosswalk, or replace one with If-Match (network_admin)",
    openapi_extra=CSV_BODY, responses={201: {"description": "Created"}},
)
async def put_crosswalk(
    name: NamePath, request: Request, identity: CurrentIdentity, session: SessionDep,
    response: Response, if_match: IfMatch = None,
) -> CrosswalkRead:
    """Every row is checked; any problem refuses the file (422, `errors` with each line) and
    changes nothing. Replacing a crosswalk needs its ETag in If-Match; the shipped examples
    cannot be replaced (409)."""
    service.ensure_network_admin(identity)
    if request.headers.get("content-type", "").split(";")[0].strip() not in (CSV, "text/plain"):
        raise Problem(415, "Send the crosswalk as text/csv.", kind="unsupported-media-type")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > service.MAX_CROSSWALK_BYTES:
            raise Problem(413, "A crosswalk may be at most 1 MiB.", kind="too-large")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Problem(422, "The crosswalk is not UTF-8 text; nothing was changed.",
                      kind="invalid-crosswalk") from exc
    crosswalk, created = await service.put_crosswalk(session, name, text, if_match)
    response.headers["ETag"] = etag(crosswalk.version)
    if created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"{router.prefix}/{name}"
    return crosswalk


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete an uploaded crosswalk no source uses (network_admin)")
async def delete_crosswalk(
    name: NamePath, identity: CurrentIdentity, session: SessionDep, if_match: IfMatch = None,
) -> None:
    service.ensure_network_admin(identity)
    await service.delete_crosswalk(session, name, if_match)
