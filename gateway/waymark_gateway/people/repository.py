import uuid
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from waymark_gateway.people.models import Invitation, PendingErasure, Person, RecoveryCode
from waymark_kernel.db import changed_rows


async def add(
    session: AsyncSession, *rows: Person | Invitation | RecoveryCode | PendingErasure
) -> None:
    session.add_all(rows)
    await session.flush()


class PersonExists(Exception):
    """Another request stored a person with the same email (or provider identity) first."""


async def add_person(session: AsyncSession, person: Person) -> None:
    session.add(person)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise PersonExists() from exc


async def person(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)


async def person_by_email(session: AsyncSession, email_fingerprint: str) -> Person | None:
    query = select(Person).where(Person.email_fingerprint == email_fingerprint)
    return (await session.execute(query)).scalar_one_or_none()


async def person_by_external_subject(
    session: AsyncSession, provider: str, subject: str
) -> Person | None:
    query = select(Person).where(
        Person.external_provider == provider, Person.external_subject == subject
    )
    return (await session.execute(query)).scalar_one_or_none()


async def organization_people(
    session: AsyncSession, organization_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Person]:
    query = select(Person).where(
        col(Person.organization_id) == organization_id, col(Person.deleted_at).is_(None)
    )
    if after is not None:
        query = query.where(
            (Person.created_at > after[0])
            | ((Person.created_at == after[0]) & (Person.id > after[1]))
        )
    query = query.order_by(col(Person.created_at), col(Person.id)).limit(limit)
    return list((await session.execute(query)).scalars())


async def deactivated_since(session: AsyncSession, since: datetime) -> list[uuid.UUID]:
    query = select(col(Person.id)).where(col(Person.active).is_(False), col(Person.deactivated_at) >= since)
    return list((await session.execute(query)).scalars())


async def invitation_by_token(session: AsyncSession, token_hash: str) -> Invitation | None:
    query = select(Invitation).where(Invitation.token_hash == token_hash)
    return (await session.execute(query)).scalar_one_or_none()


async def organization_invitations(
    session: AsyncSession, organization_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Invitation]:
    query = select(Invitation).where(Invitation.organization_id == organization_id)
    if after is not None:
        query = query.where(
            (Invitation.created_at < after[0])
            | ((Invitation.created_at == after[0]) & (Invitation.id < after[1]))
        )
    query = query.order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def pending_invitation_elsewhere(
    session: AsyncSession, email_fingerprint: str, organization_id: uuid.UUID, now: datetime
) -> bool:
    query = select(Invitation.id).where(
        Invitation.email_fingerprint == email_fingerprint,
        Invitation.organization_id != organization_id,
        col(Invitation.accepted_at).is_(None), col(Invitation.expires_at) > now,
    ).limit(1)
    return (await session.execute(query)).first() is not None


async def claim_invitation(session: AsyncSession, invitation_id: uuid.UUID, now: datetime) -> bool:
    """Marks the invitation accepted; False when another request accepted it first."""
    changed = await changed_rows(
        session,
        update(Invitation)
        .where(col(Invitation.id) == invitation_id, col(Invitation.accepted_at).is_(None))
        .values(accepted_at=now)
    )
    return changed == 1


async def use_recovery_code(
    session: AsyncSession, person_id: uuid.UUID, fingerprint: str, now: datetime
) -> bool:
    """Spends an unused recovery code of the person; False when there is none such."""
    changed = await changed_rows(
        session,
        update(RecoveryCode)
        .where(col(RecoveryCode.fingerprint) == fingerprint, col(RecoveryCode.person_id) == person_id,
               col(RecoveryCode.used_at).is_(None))
        .values(used_at=now)
    )
    return changed == 1


async def claim_totp_step(
    session: AsyncSession, person_id: uuid.UUID, step: int
) -> bool:
    """Records `step` as the person's last used code; False when it (or a later one) was used."""
    changed = await changed_rows(
        session,
        update(Person)
        .where(col(Person.id) == person_id,
               (col(Person.totp_last_step).is_(None)) | (col(Person.totp_last_step) < step))
        .values(totp_last_step=step)
    )
    return changed == 1


async def delete_recovery_codes(session: AsyncSession, person_id: uuid.UUID) -> None:
    codes = (await session.execute(
        select(RecoveryCode).where(RecoveryCode.person_id == person_id)
    )).scalars()
    for code in codes:
        await session.delete(code)


async def delete_accepted_invitations(session: AsyncSession, email_fingerprint: str) -> None:
    """The accepted invitations of an address: they hold it sealed, and serve no more."""
    await session.execute(delete(Invitation).where(
        col(Invitation.email_fingerprint) == email_fingerprint, col(Invitation.accepted_at).is_not(None)
    ))


async def due_erasures(session: AsyncSession, now: datetime, limit: int) -> list[PendingErasure]:
    query = (
        select(PendingErasure).where(PendingErasure.next_attempt_at <= now)
        .order_by(col(PendingErasure.next_attempt_at)).limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def claim_erasure(
    session: AsyncSession, person_id: uuid.UUID, seen_attempts: int, now: datetime,
    next_attempt_at: datetime,
) -> bool:
    """Counts an attempt and sets the next one; False when another replica claimed it first."""
    changed = await changed_rows(
        session,
        update(PendingErasure)
        .where(col(PendingErasure.person_id) == person_id, col(PendingErasure.attempts) == seen_attempts,
               col(PendingErasure.next_attempt_at) <= now)
        .values(attempts=seen_attempts + 1, next_attempt_at=next_attempt_at)
    )
    return changed == 1


async def finish_erasure(session: AsyncSession, person_id: uuid.UUID, pseudonym: str) -> None:
    await session.execute(
        update(Person).where(col(Person.id) == person_id).values(pseudonym=pseudonym)
    )
    await session.execute(delete(PendingErasure).where(col(PendingErasure.person_id) == person_id))
