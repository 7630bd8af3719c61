"""Bulk export and import of the directory (network_admin), as an HSDS JSON dataset or an
HSDS tabular data package (a zip of CSV files)."""

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from waymark_kernel.auth import CurrentIdentity, Identity
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import Forbidden

from waymark_registry.crosswalks.schemas import CrosswalkName
from waymark_registry.crosswalks.service import chosen
from waymark_registry.dataset import service, tabular
from waymark_registry.dataset.service import ImportOptions
from waymark_registry.dataset.schemas import ImportReport

router = APIRouter(prefix="/v1/hsds/dataset", tags=["hsds"])
ZIP = "application/zip"
PACKAGE_SCHEMA = {"type": "string", "format": "binary", "description": (
    "An HSDS 3.0 tabular data package: datapackage.json and one CSV file per table "
    "as the HSDS 3.0 specification's datapackage.json names them (organizations.csv, "
    "services.csv, locations.csv, ...); the package's own datapackage.json may give other paths"
)}


def _ensure_network_admin(identity: Identity) -> None:
    if not identity.is_network_admin:
        raise Forbidden("Only a network_admin may export or import the whole directory.")


@router.get(
    "", summary="The whole directory as an HSDS dataset (network_admin): JSON, or CSV with "
    "`Accept: application/zip`",
    responses={200: {"content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        ZIP: {"schema": PACKAGE_SCHEMA},
    }}},
)
async def export_dataset(
    request: Request, identity: CurrentIdentity, session: SessionDep
) -> Any:
    """An array of HSDS organizations with their services nested, or, asked for with
    `Accept: application/zip`, the same as an HSDS tabular data package. Confidential
    locations keep only city, admin area and country."""
    _ensure_network_admin(identity)
    if ZIP in request.headers.get("accept", ""):
        return Response(
            tabular.zipped(await service.export_package(session)), media_type=ZIP,
            headers={"Content-Disposition": 'attachment; filename="hsds-directory.zip"'},
        )
    return await service.export_dataset(session)


@router.post(
    "", summary="Import an HSDS dataset (network_admin): JSON, or a CSV package as "
    "`Content-Type: application/zip`; all or nothing, by id",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        ZIP: {"schema": PACKAGE_SCHEMA},
    }}},
    responses={413: {"description": "Larger than 512 MiB (a package: uncompressed, and at "
                          "most 5 million lines)"}},
)
async def import_dataset(
    request: Request, identity: CurrentIdentity, session: SessionDep,
    after_response: BackgroundTasks,
    dry_run: Annotated[bool, Query(description="Report what the import would do; change "
                                   "nothing")] = False,
    crosswalk: Annotated[list[CrosswalkName] | None, Query(
        max_length=20, description="Crosswalks mapping other taxonomies' terms to Waymark's "
        "categories, by name (GET /v1/hsds/crosswalks; repeatable); none: the shipped examples",
    )] = None,
) -> ImportReport:
    """Creates or updates every organisation and service of the file, or, when any object is
    invalid, changes nothing and answers 422 with every problem (`errors`: file of the
    package, line, path, reason). Importing the same file again changes nothing. A zip member
    named outside the package (`../x`, `/x`) refuses the upload. The report counts what was
    created, updated and unchanged, warns of what was imported otherwise than given
    (uncategorised services, countries derived from addresses) and counts what the directory
    does not keep, by HSDS table. A crosswalk named that does not exist is a 422."""
    _ensure_network_admin(identity)
    options = ImportOptions(dry_run=dry_run, crosswalk=await chosen(session, crosswalk or []))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > tabular.MAX_PACKAGE_BYTES:
            raise tabular.too_large()
    if request.headers.get("content-type", "").split(";")[0].strip() == ZIP:
        report = await service.import_package(session, tabular.ZipPackage(bytes(body)), options)
    else:
        report = await service.import_dataset(session, bytes(body), options)
    after_response.add_task(service.settle, session.bind, report)  # the commit came before
    return report
