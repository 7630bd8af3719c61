"""Every query of referrals, their shared snapshots, history and idempotent requests."""

import uuid
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from waymark_kernel.api import TimestampPosition
from waymark_kernel.db import Prepared, changed_rows, table_of
from waymark_kernel.keyset import Keyset
from waymark_referrals.cases.models import Case
from waymark_referrals.directory.models import DirectoryOrganization, DirectoryService
from waymark_referrals.referrals.models import (
    IdempotentRequest,
    Referral,
    ReferralTransition,
    SharedPerson,
)
from waymark_referrals.referrals.states import AWAITING_ANSWER, FINAL, OPEN, Status


class Located(NamedTuple):
    """A referral with what showing it needs: its shared snapshot (None once withdrawn or
    erased) and its case's owner and legal basis, read in the same query."""

    referral: Referral
    snapshot: SharedPerson | None
    owner_org_id: uuid.UUID
    legal_basis: str | None


# The row of a Located; its SharedPerson is None where the outer join finds none.
LocatedQuery = Select[tuple[Referral, SharedPerson, uuid.UUID, str | None]]


def _located() -> LocatedQuery:
    return (
        select(Referral, SharedPerson, col(Case.organization_id), col(Case.legal_basis))
        .join(Case, col(Case.id) == col(Referral.case_id))
        .outerjoin(SharedPerson, col(SharedPerson.referral_id) == col(Referral.id))
    )


# The statements of every request are built once: building one costs more CPU than running it.
_ONE_LOCATED = _located().where(col(Referral.id) == bindparam("referral_id"))
_ONE_LOCATED_FOR_UPDATE = _ONE_LOCATED.with_for_update(of=Referral)


class Parties(NamedTuple):
    """A new leg's case, and its sender, receiver and service as the directory knows them."""

    case: Case | None
    sender: DirectoryOrganization | None
    receiver: DirectoryOrganization | None
    service: DirectoryService | None  # None too when it is not the receiver's


def _parties_query() -> Select[
    tuple[Case, DirectoryOrganization, DirectoryOrganization, DirectoryService]
]:
    sender, receiver = aliased(DirectoryOrganization), aliased(DirectoryOrganization)
    return (
        select(Case, sender, receiver, DirectoryService).select_from(Case)
        .outerjoin(sender, col(sender.id) == bindparam("sender_id"))
        .outerjoin(receiver, col(receiver.id) == bindparam("receiver_id"))
        .outerjoin(DirectoryService, and_(
            col(DirectoryService.id) == bindparam("service_id"),
            col(DirectoryService.organization_id) == col(receiver.id),
        ))
        .where(col(Case.id) == bindparam("case_id"))
    )


_PARTIES = _parties_query()


async def find_parties(
    session: AsyncSession, case_id: uuid.UUID, sender_id: uuid.UUID, receiver_id: uuid.UUID,
    service_id: uuid.UUID | None,
) -> Parties:
    """Everything a new leg is checked against, in one query."""
    row = (await session.execute(_PARTIES, {
        "case_id": case_id, "sender_id": sender_id, "receiver_id": receiver_id,
        "service_id": service_id,
    })).first()
    return Parties(*row) if row is not None else Parties(None, None, None, None)


async def find(
    session: AsyncSession, referral_id: uuid.UUID, *, for_update: bool = False
) -> Located | None:
    """With `for_update`, the referral locked and left untracked: `save_moved` writes what a
    transition changes (the unit of work's flush of it cost more CPU than the UPDATE)."""
    query = _ONE_LOCATED_FOR_UPDATE if for_update else _ONE_LOCATED
    row = (await session.execute(query, {"referral_id": referral_id})).first()
    if row is None:
        return None
    located = Located(*row)
    if for_update:
        session.expunge(located.referral)
    return located


# The columns a transition changes (`service._move`); a test reads the row back after every move.
MOVED = (
    "status", "status_reason", "outcome", "key_id", "wrapped_key", "ciphertext", "version",
    "updated_at", "requested_at", "respond_by",
)
_REFERRALS = table_of(Referral)
_SAVE_MOVED = Prepared(
    update(_REFERRALS).where(_REFERRALS.c.id == bindparam("moved_id")), columns=MOVED
)


async def save_moved(session: AsyncSession, referral: Referral) -> None:
    await _SAVE_MOVED.execute(
        session, moved_id=referral.id, **{column: getattr(referral, column) for column in MOVED}
    )


_INSERT_REFERRAL = Prepared.insert_into(_REFERRALS)
_INSERT_SNAPSHOT = Prepared.insert_into(table_of(SharedPerson))
_INSERT_TRANSITION = Prepared.insert_into(table_of(ReferralTransition))


async def add_leg(session: AsyncSession, referral: Referral, snapshot: SharedPerson) -> None:
    """A new referral and its snapshot, written as rows at once: a unit of work tracking them
    costs more CPU than the statements. A transition changes it through `save_moved`."""
    await _INSERT_REFERRAL.execute(session, **referral.model_dump())
    await _INSERT_SNAPSHOT.execute(session, **snapshot.model_dump())


async def add_transition(session: AsyncSession, transition: ReferralTransition) -> None:
    """History is only ever appended: written as a row, untracked."""
    await _INSERT_TRANSITION.execute(session, **transition.model_dump())


_NEWEST_FIRST = Keyset(col(Referral.created_at), col(Referral.id), descending=True)
_OLDEST_FIRST = Keyset(col(Referral.created_at), col(Referral.id))
_HISTORY_ORDER = Keyset(col(ReferralTransition.occurred_at), col(ReferralTransition.id))


def is_overdue(now: datetime) -> ColumnElement[bool]:
    return col(Referral.status).in_(list(AWAITING_ANSWER)) & (col(Referral.respond_by) < now)


async def list_for_organization(
    session: AsyncSession, organization_id: uuid.UUID, *, role: Literal["sent", "received"] | None,
    statuses: list[Status] | None, country: str | None, overdue: bool | None,
    urgency: str | None, now: datetime, after: TimestampPosition | None, limit: int,
) -> list[Located]:
    sent = col(Referral.sender_org_id) == organization_id
    # A draft is the sender's alone until it is requested.
    received = (col(Referral.receiver_org_id) == organization_id) & (
        col(Referral.requested_at).is_not(None)
    )
    mine = or_(sent, received) if role is None else {"sent": sent, "received": received}[role]
    query = _located().where(mine)
    if statuses:
        query = query.where(col(Referral.status).in_(statuses))
    if country is not None:
        query = query.where(
            or_(col(Referral.from_country) == country, col(Referral.to_country) == country)
        )
    if overdue is not None:
        query = query.where(is_overdue(now) if overdue else not_(is_overdue(now)))
    if urgency is not None:
        query = query.where(col(Referral.urgency) == urgency)
    query = _NEWEST_FIRST.page(query, after, limit)
    return [Located(*row) for row in await session.execute(query)]


async def open_referrals_of_case(session: AsyncSession, case_id: uuid.UUID) -> list[Referral]:
    query = (
        select(Referral)
        .where(col(Referral.case_id) == case_id, col(Referral.status).in_(list(OPEN)))
        .order_by(col(Referral.created_at), col(Referral.id)).with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def delete_shared_persons_of_case(session: AsyncSession, case_id: uuid.UUID) -> None:
    await session.execute(delete(SharedPerson).where(col(SharedPerson.referral_id).in_(
        select(col(Referral.id)).where(col(Referral.case_id) == case_id)
    )))


async def history(
    session: AsyncSession, referral_id: uuid.UUID, *, after: TimestampPosition | None, limit: int
) -> list[ReferralTransition]:
    query = select(ReferralTransition).where(col(ReferralTransition.referral_id) == referral_id)
    query = _HISTORY_ORDER.page(query, after, limit)
    return list((await session.execute(query)).scalars())


_IDEMPOTENT_REQUESTS = table_of(IdempotentRequest)
_FORGET_EXPIRED_REQUEST = Prepared(delete(_IDEMPOTENT_REQUESTS).where(
    _IDEMPOTENT_REQUESTS.c.organization_id == bindparam("organization_id"),
    _IDEMPOTENT_REQUESTS.c.key == bindparam("key"),
    _IDEMPOTENT_REQUESTS.c.created_at < bindparam("expired_before"),
))
_INSERT_IDEMPOTENT_REQUEST = Prepared.insert_into(_IDEMPOTENT_REQUESTS)


async def find_idempotent_request(
    session: AsyncSession, organization_id: uuid.UUID, key: str, *, expired_before: datetime
) -> IdempotentRequest | None:
    """The request first sent with this key, unless it expired (it is forgotten then)."""
    await _FORGET_EXPIRED_REQUEST.execute(
        session, organization_id=organization_id, key=key, expired_before=expired_before
    )
    return await session.get(IdempotentRequest, (organization_id, key))


async def add_idempotent_request(session: AsyncSession, request: IdempotentRequest) -> None:
    await _INSERT_IDEMPOTENT_REQUEST.execute(session, **request.model_dump())


async def forget_idempotent_requests(session: AsyncSession, *, created_before: datetime) -> None:
    await session.execute(
        delete(IdempotentRequest).where(col(IdempotentRequest.created_at) < created_before)
    )


def _ended_before(moment: datetime) -> ColumnElement[bool]:
    """A final referral's status never changes again: its updated_at is when it ended."""
    return col(Referral.status).in_(list(FINAL)) & (col(Referral.updated_at) < moment)


async def erase_expired_snapshots(session: AsyncSession, *, ended_before: datetime) -> int:
    ended = select(col(Referral.id)).where(_ended_before(ended_before))
    return await changed_rows(
        session, delete(SharedPerson).where(col(SharedPerson.referral_id).in_(ended))
    )


ReferralIds = Select[tuple[uuid.UUID]]


async def erase_texts(session: AsyncSession, referral_ids: ReferralIds) -> None:
    """Empties the sealed free text of these referrals, of their history and of the first
    answers kept for their Idempotency-Keys (they hold it too)."""
    erased: dict[str, Any] = {"key_id": None, "wrapped_key": None, "ciphertext": None}
    for table, referral_id, ciphertext in (
        (Referral, col(Referral.id), col(Referral.ciphertext)),
        (ReferralTransition, col(ReferralTransition.referral_id), col(ReferralTransition.ciphertext)),
        (IdempotentRequest, col(IdempotentRequest.referral_id), col(IdempotentRequest.ciphertext)),
    ):
        await session.execute(
            update(table).where(referral_id.in_(referral_ids), ciphertext.is_not(None))
            .values(erased).execution_options(synchronize_session=False)
        )


def legs_without_owner(
    *, case_id: uuid.UUID | None = None, ended_before: datetime | None = None
) -> ReferralIds:
    """The ids of the referrals (of one case, or ended before a moment) that the case's owner
    neither sent nor received, such as the onward legs between transit and destination."""
    query = select(col(Referral.id)).join(Case, col(Case.id) == col(Referral.case_id)).where(
        col(Case.organization_id) != col(Referral.sender_org_id),
        col(Case.organization_id) != col(Referral.receiver_org_id),
    )
    if case_id is not None:
        query = query.where(col(Referral.case_id) == case_id)
    if ended_before is not None:
        query = query.where(_ended_before(ended_before))
    return query


async def legs_of_case(
    session: AsyncSession, case_id: uuid.UUID, *, party: uuid.UUID | None,
    after: TimestampPosition | None, limit: int,
) -> list[Referral]:
    """Oldest first; with `party`, only the legs that organisation sends or receives."""
    query = select(Referral).where(col(Referral.case_id) == case_id)
    if party is not None:
        query = query.where(or_(
            col(Referral.sender_org_id) == party,
            (col(Referral.receiver_org_id) == party) & col(Referral.requested_at).is_not(None),
        ))
    query = _OLDEST_FIRST.page(query, after, limit)
    return list((await session.execute(query)).scalars())


async def overdue_unannounced(session: AsyncSession, now: datetime, limit: int) -> list[Referral]:
    # Replicas sweep side by side: each takes the rows no other has locked.
    query = (
        select(Referral).where(is_overdue(now), col(Referral.overdue_announced).is_(False))
        .order_by(col(Referral.respond_by)).limit(limit).with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())
