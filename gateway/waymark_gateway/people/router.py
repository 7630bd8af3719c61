import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from waymark_gateway.identity.service import NO_STORE, ensure_organization_exists
from waymark_gateway.people import service
from waymark_gateway.people.schemas import (
    Enrolled,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationRead,
    InvitationView,
    PersonRead,
    PersonUpdate,
)
from waymark_gateway.people.service import Accounts
from waymark_gateway.sessions.authentication import CallerIdentity, CurrentCaller
from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.auth import Identity
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import Forbidden, NotFound

router = APIRouter(tags=["people"])
PUBLIC: dict[str, Any] = {"security": []}
InvitationToken = Annotated[str, Path(min_length=16, max_length=128)]


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


AccountsDep = Annotated[Accounts, Depends(_accounts)]


def address_of(request: Request) -> str | None:
    address: str | None = request.app.state.client_addresses.of(request)
    return address


def ensure_admin_of(identity: Identity, organization_id: uuid.UUID) -> None:
    """Another organisation's people, invitations and audit log are private to it: 404."""
    if not identity.is_network_admin and not identity.belongs_to(organization_id):
        raise NotFound("organisation")
    if not identity.is_admin_of(organization_id):
        raise Forbidden(
            "Only a network admin or the organisation's own admin may manage its people."
        )


@router.post(
    "/v1/organizations/{organization_id}/invitations", status_code=201,
    summary="Invite a person to the organisation (emailed, or the link returned once)",
)
async def create_invitation(
    organization_id: uuid.UUID, data: InvitationCreate, caller: CurrentCaller,
    request: Request, response: Response, session: SessionDep, accounts: AccountsDep,
) -> InvitationCreated:
    ensure_admin_of(caller.identity, organization_id)
    await ensure_organization_exists(
        request.app.state.upstreams, organization_id, caller.authorization
    )
    response.headers.update(NO_STORE)
    return await service.create_invitation(
        session, accounts, organization_id, data, caller.identity, address_of(request)
    )


@router.get(
    "/v1/organizations/{organization_id}/invitations", summary="The organisation's invitations, newest first",
)
async def list_invitations(
    organization_id: uuid.UUID, identity: CallerIdentity, session: SessionDep,
    accounts: AccountsDep, limit: Limit = 50, cursor: Cursor = None,
) -> Page[InvitationRead]:
    ensure_admin_of(identity, organization_id)
    return await service.list_invitations(session, accounts, organization_id, limit, cursor)


@router.get(
    "/v1/invitations/{token}", openapi_extra=PUBLIC,
    summary="Whom an invitation invites",
)
async def view_invitation(
    token: InvitationToken, response: Response, session: SessionDep, accounts: AccountsDep,
) -> InvitationView:
    response.headers.update(NO_STORE)
    return await service.view_invitation(session, accounts, token)


@router.post(
    "/v1/invitations/{token}", status_code=201, openapi_extra=PUBLIC,
    summary="Accept an invitation: name and password; answers the TOTP key and recovery codes",
)
async def accept_invitation(
    token: InvitationToken, data: InvitationAccept, request: Request, response: Response,
    session: SessionDep, accounts: AccountsDep,
) -> Enrolled:
    response.headers.update(NO_STORE)
    return await service.accept_invitation(session, accounts, token, data, address_of(request))


@router.get(
    "/v1/organizations/{organization_id}/people", summary="The organisation's people, with roles, second-factor status and last sign-in",
)
async def list_people(
    organization_id: uuid.UUID, identity: CallerIdentity, session: SessionDep,
    accounts: AccountsDep, limit: Limit = 50, cursor: Cursor = None,
) -> Page[PersonRead]:
    ensure_admin_of(identity, organization_id)
    return await service.list_people(session, accounts, organization_id, limit, cursor)


@router.patch(
    "/v1/people/{person_id}", summary="Change a person's roles, or deactivate her (every session and token ends)",
)
async def update_person(
    person_id: uuid.UUID, data: PersonUpdate, identity: CallerIdentity, request: Request,
    session: SessionDep, accounts: AccountsDep,
) -> PersonRead:
    person, change = await service.update_person(
        session, accounts, identity, person_id, data, address_of(request)
    )
    await session.commit()  # the sessions change only once the change is stored
    sessions = request.app.state.sessions
    if change.tokens_revoked:
        request.app.state.revoked_clients.add_person(person_id)
    if change.sessions_end:
        await sessions.end_everywhere(person_id)
    elif change.roles is not None:
        await sessions.set_roles(person_id, change.roles)
    return person


@router.delete(
    "/v1/people/{person_id}", status_code=204,
    summary="Delete a deactivated person's account: her name becomes a pseudonym in every record",
)
async def delete_person(
    person_id: uuid.UUID, identity: CallerIdentity, request: Request, session: SessionDep,
) -> Response:
    await service.delete_person(session, identity, person_id, address_of(request))
    await session.commit()  # stored (with its pending erasure) before the referrals are asked
    request.app.state.revoked_clients.add_person(person_id)
    await request.app.state.sessions.end_everywhere(person_id)
    await request.app.state.erasures.attempt(person_id, seen_attempts=0)
    return Response(status_code=204)


@router.post(
    "/v1/people/{person_id}/second-factor/reset", summary="Reset a person's second factor: she sets up a new one at her next sign-in",
)
async def reset_second_factor(
    person_id: uuid.UUID, identity: CallerIdentity, request: Request, session: SessionDep,
    accounts: AccountsDep,
) -> PersonRead:
    person = await service.reset_second_factor(
        session, accounts, identity, person_id, address_of(request)
    )
    await session.commit()
    await request.app.state.sessions.end_everywhere(person_id)
    return person
