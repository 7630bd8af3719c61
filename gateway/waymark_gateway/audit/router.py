import uuid

from fastapi import APIRouter

from waymark_gateway.audit import service
from waymark_gateway.audit.schemas import AuditEntryRead
from waymark_gateway.people.router import ensure_admin_of
from waymark_gateway.sessions.authentication import CallerIdentity
from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.db import SessionDep

router = APIRouter(tags=["audit"])


@router.get(
    "/v1/organizations/{organization_id}/audit", summary="The organisation's audit log of people's accounts, newest first",
)
async def organization_audit(
    organization_id: uuid.UUID, identity: CallerIdentity, session: SessionDep,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[AuditEntryRead]:
    ensure_admin_of(identity, organization_id)
    return await service.organization_log(session, organization_id, limit, cursor)
