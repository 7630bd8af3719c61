"""Bulk export and import of the directory (network_admin)."""

from typing import Any

from fastapi import APIRouter, Request
from waymark_kernel.auth import CurrentIdentity, Identity
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import Forbidden, Problem

from waymark_registry.dataset import service
from waymark_registry.dataset.schemas import ImportReport

router = APIRouter(prefix="/v1/hsds/dataset", tags=["hsds"])


def _ensure_network_admin(identity: Identity) -> None:
    if not identity.is_network_admin:
        raise Forbidden("Only a network_admin may export or import the whole directory.")


@router.get("", summary="The whole directory as an HSDS JSON dataset (network_admin)")
async def export_dataset(identity: CurrentIdentity, session: SessionDep) -> list[dict[str, Any]]:
    """An array of HSDS organizations with their services nested; confidential locations
    keep only city, admin area and country."""
    _ensure_network_admin(identity)
    return await service.export_dataset(session)


@router.post(
    "", summary="Import an HSDS JSON dataset (network_admin): all or nothing, by id",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "array", "items": {"type": "object"}},
    }}}},
)
async def import_dataset(
    request: Request, identity: CurrentIdentity, session: SessionDep
) -> ImportReport:
    """Creates or updates every organisation and service of the file, or, when any object is
    invalid, changes nothing and answers 422 with every problem (`errors`: line, path, reason).
    Importing the same file again changes nothing."""
    _ensure_network_admin(identity)
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(422, "The file is not UTF-8 text.", kind="invalid-dataset") from exc
    return await service.import_dataset(session, text)
