"""Business steps for cases. Personal data is sealed before it reaches the session. A person's
reads of a case go into its disclosure ledger."""

import uuid

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.api import Page, page_of, position_after
from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.problems import Forbidden, NotFound, Problem

from waymark_referrals.actors import service as actors
from waymark_referrals.actors.schemas import RecordedActor
from waymark_referrals.cases import repository
from waymark_referrals.cases.models import Case
from waymark_referrals.cases.schemas import (
    CaseContent,
    CaseCreate,
    CaseRead,
    CaseUpdate,
    Consent,
    ConsentRead,
    ConsentRecord,
    ConsentWithdrawn,
    ConsentWithdrawnRead,
    Person,
)
from waymark_referrals.crypto import EnvelopeCipher
from waymark_referrals.directory import repository as directory
from waymark_referrals.disclosures import service as disclosures
from waymark_referrals.disclosures.schemas import PersonalRead

UNKNOWN_COUNTRY = "XX"


def open_content(cipher: EnvelopeCipher, case: Case) -> CaseContent:
    return CaseContent.model_validate(cipher.open(case.sealed, record=str(case.id)))


def seal_content(cipher: EnvelopeCipher, case: Case, content: CaseContent) -> None:
    case.store(cipher.seal(content.model_dump(mode="json"), record=str(case.id)))
    case.legal_basis = content.consent.legal_basis if content.consent else None


async def present(
    session: AsyncSession, cipher: EnvelopeCipher, shown: list[tuple[Case, CaseContent]]
) -> list[CaseRead]:
    """The cases with who created them and who recorded and withdrew consent, the actors of
    every case resolved at once."""
    recorded = []
    for case, content in shown:
        recorded.append(case.actor)
        if content.consent is not None:
            recorded.append(content.consent.recorded_actor)
        if content.consent_withdrawn is not None:
            recorded.append(content.consent_withdrawn.actor)
    actors_shown = iter(await actors.present(session, cipher, recorded))
    reads = []
    for case, content in shown:
        created_by = next(actors_shown)
        consent = withdrawn = None
        if content.consent is not None:
            consent = ConsentRead(
                **content.consent.model_dump(exclude={"actor"}), actor=next(actors_shown)
            )
        if content.consent_withdrawn is not None:
            withdrawn = ConsentWithdrawnRead(
                withdrawn_at=content.consent_withdrawn.withdrawn_at, actor=next(actors_shown)
            )
        reads.append(CaseRead(
            id=case.id, reference=case.reference, organization_id=case.organization_id,
            person=content.person, vulnerabilities=content.vulnerabilities, consent=consent,
            consent_withdrawn=withdrawn, created_by=created_by, created_at=case.created_at,
            updated_at=case.updated_at,
        ))
    return reads


async def _shown_to(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity,
    shown: list[tuple[Case, CaseContent]],
) -> list[CaseRead]:
    """Presents cases to the caller, each a read of the person for the disclosure ledger."""
    await disclosures.record_reads(session, cipher, identity, [
        PersonalRead(
            case_id=case.id, owner_org_id=case.organization_id, referral_id=None,
            fields=sorted(field for field, value in content.person if value not in (None, [])),
            legal_basis=case.legal_basis,
        )
        for case, content in shown
    ])
    return await present(session, cipher, shown)


def require_case_writer(identity: Identity) -> None:
    if not identity.can_write_cases:
        raise Forbidden("Recording cases and referrals needs the caseworker or org_admin role.")


async def owned_case(
    session: AsyncSession, organization_id: uuid.UUID, case_id: uuid.UUID, *,
    for_update: bool = False,
) -> Case:
    case = await repository.find(session, organization_id, case_id, for_update=for_update)
    if case is None:
        raise NotFound("case")
    return case


async def _reference(
    session: AsyncSession, organization_id: uuid.UUID, person: Person, year: int
) -> str:
    """`<COUNTRY>-<YEAR>-<NNNNNN>`: easy to say on the phone, and says nothing about the person."""
    organization = await directory.find_organization(session, organization_id)
    country = organization.country if organization else person.current_country or UNKNOWN_COUNTRY
    number = await repository.next_case_number(session, organization_id, country, year)
    return f"{country}-{year}-{number:06d}"


async def create_case(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, organization_id: uuid.UUID,
    body: CaseCreate,
) -> CaseRead:
    require_case_writer(identity)
    now = utcnow()
    case = Case(
        id=uuid.uuid4(), organization_id=organization_id,
        reference=await _reference(session, organization_id, body.person, now.year),
        created_at=now, updated_at=now,
        **Case.acted_by(await actors.recorded(session, cipher, identity)),
    )
    content = CaseContent(person=body.person, vulnerabilities=body.vulnerabilities)
    seal_content(cipher, case, content)
    session.add(case)
    await session.flush()
    # Its creator typed the person in: showing it back discloses nothing.
    (created,) = await present(session, cipher, [(case, content)])
    return created


async def get_case(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity,
    organization_id: uuid.UUID, case_id: uuid.UUID,
) -> CaseRead:
    case = await owned_case(session, organization_id, case_id)
    (read,) = await _shown_to(session, cipher, identity, [(case, open_content(cipher, case))])
    return read


async def list_cases(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity,
    organization_id: uuid.UUID, *, reference: str | None, cursor: str | None, limit: int,
) -> Page[CaseRead]:
    rows = await repository.list_cases(
        session, organization_id, reference=reference, after=position_after(cursor), limit=limit + 1
    )
    shown = iter(await _shown_to(
        session, cipher, identity, [(case, open_content(cipher, case)) for case in rows[:limit]]
    ))
    return page_of(rows, limit, lambda _: next(shown), lambda case: (case.created_at, case.id))


def _merged_person(current: Person, change: Person) -> Person:
    try:
        return Person.model_validate(
            {**current.model_dump(), **change.model_dump(exclude_unset=True)}
        )
    except ValidationError as exc:
        # Only the messages: the values may be personal data.
        detail = "; ".join(error["msg"] for error in exc.errors())
        raise Problem(
            422, f"The person would not be valid: {detail}", kind="validation-error"
        ) from exc


async def update_case(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, organization_id: uuid.UUID,
    case_id: uuid.UUID, body: CaseUpdate,
) -> CaseRead:
    case = await owned_case(session, organization_id, case_id, for_update=True)
    require_case_writer(identity)
    content = open_content(cipher, case)
    if body.person is not None:
        content.person = _merged_person(content.person, body.person)
    if body.vulnerabilities is not None:
        content.vulnerabilities = body.vulnerabilities
    case.updated_at = utcnow()
    seal_content(cipher, case, content)
    await session.flush()
    (updated,) = await _shown_to(session, cipher, identity, [(case, content)])
    return updated


async def record_consent(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, organization_id: uuid.UUID,
    case_id: uuid.UUID, body: ConsentRecord,
) -> CaseRead:
    case = await owned_case(session, organization_id, case_id, for_update=True)
    require_case_writer(identity)
    content = open_content(cipher, case)
    case.updated_at = utcnow()
    actor = await actors.recorded(session, cipher, identity)
    content.consent = Consent(
        **body.model_dump(), recorded_at=case.updated_at, recorded_by=actor.id, actor=actor
    )
    seal_content(cipher, case, content)
    await session.flush()
    (recorded,) = await _shown_to(session, cipher, identity, [(case, content)])
    return recorded


def forget_consent(cipher: EnvelopeCipher, case: Case, actor: RecordedActor) -> ConsentWithdrawn:
    """Drops the consent and keeps when and by whom it was withdrawn."""
    content = open_content(cipher, case)
    case.updated_at = utcnow()
    content.consent = None
    content.consent_withdrawn = ConsentWithdrawn(withdrawn_at=case.updated_at, actor=actor)
    seal_content(cipher, case, content)
    return content.consent_withdrawn
