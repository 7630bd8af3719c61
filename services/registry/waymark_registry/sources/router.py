"""HSDS sources (network_admin): HSDS 3.0 APIs synchronised on a schedule, and their runs."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status
from waymark_kernel.api import Page
from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.db import SessionDep

from waymark_registry.crosswalks.service import ensure_network_admin
from waymark_registry.sources import service
from waymark_registry.sources.publisher import SourceGuard
from waymark_registry.sources.schemas import (
    SourceCreate, SourceRead, SourceRunRead, SourceUpdate,
)
from waymark_registry.versions import etag

router = APIRouter(prefix="/v1/hsds/sources", tags=["hsds"])
IfMatch = Annotated[str | None, Header(max_length=200)]


def _guard(request: Request) -> SourceGuard:
    return SourceGuard(allow_insecure=request.app.state.settings.hsds_source_allow_insecure)


def _tagged(response: Response, source: SourceRead) -> SourceRead:
    response.headers["ETag"] = etag(source.version)
    return source


@router.post("", status_code=status.HTTP_201_CREATED,
             summary="Configure an HSDS source to synchronise on a schedule (network_admin)")
async def create_source(
    body: SourceCreate, request: Request, identity: CurrentIdentity, session: SessionDep,
    response: Response,
) -> SourceRead:
    """The source is synchronised at the scheduler's next pass (every 30 s by default) when
    enabled, then every
    `interval_minutes`: its services and organisations are applied as an import, its services
    marked as its own, and those it no longer lists made inactive. Its URL must be https and
    reach only public internet addresses (422 otherwise); one source per URL (409)."""
    ensure_network_admin(identity)
    source = await service.create_source(session, _guard(request), body)
    response.headers["Location"] = f"{router.prefix}/{source.id}"
    return _tagged(response, source)


@router.get("", summary="Every HSDS source with its last run (network_admin)")
async def list_sources(identity: CurrentIdentity, session: SessionDep) -> Page[SourceRead]:
    ensure_network_admin(identity)
    return Page(items=await service.list_sources(session))


@router.get("/{source_id}", summary="One HSDS source with its last run (network_admin)")
async def get_source(
    source_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep, response: Response
) -> SourceRead:
    ensure_network_admin(identity)
    return _tagged(response, await service.get_source(session, source_id))


@router.patch("/{source_id}", summary="Change an HSDS source, with If-Match (network_admin)")
async def update_source(
    source_id: uuid.UUID, body: SourceUpdate, identity: CurrentIdentity, session: SessionDep,
    response: Response, if_match: IfMatch = None,
) -> SourceRead:
    """Its name, interval, crosswalks or whether it is enabled; not its URL, which its services
    are marked with. Needs its ETag in If-Match (428 without, 412 when it has changed)."""
    ensure_network_admin(identity)
    return _tagged(response, await service.update_source(session, source_id, body, if_match))


@router.delete("/{source_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Stop synchronising an HSDS source, with If-Match (network_admin)")
async def delete_source(
    source_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep,
    if_match: IfMatch = None,
) -> None:
    """Its runs are deleted with it; the services it brought stay as they are."""
    ensure_network_admin(identity)
    await service.delete_source(session, source_id, if_match)


@router.get("/{source_id}/runs", summary="The source's runs, newest first, the last 100 "
            "(network_admin)")
async def list_runs(
    source_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep
) -> Page[SourceRunRead]:
    ensure_network_admin(identity)
    return Page(items=await service.list_runs(session, source_id))


@router.post("/{source_id}/runs", status_code=status.HTTP_202_ACCEPTED,
             summary="Synchronise the source at the scheduler's next pass (network_admin)")
async def request_run(
    source_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep, response: Response
) -> SourceRead:
    ensure_network_admin(identity)
    return _tagged(response, await service.request_run(session, source_id))
