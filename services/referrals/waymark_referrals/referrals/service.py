"""Business steps for referrals: creation, the state machine, visibility, consent withdrawal."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.api import Page, page_of, position_after
from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.events import CaseConsentWithdrawn, ReferralChanged
from waymark_kernel.idempotency import IDEMPOTENCY_WINDOW, IdempotencyKey, Remembered
from waymark_kernel.messaging import record_event
from waymark_kernel.preconditions import ExpectedVersion, require_version
from waymark_kernel.problems import Conflict, Forbidden, NotFound, Problem
from waymark_referrals.actors import service as actors
from waymark_referrals.actors.schemas import RecordedActor
from waymark_referrals.cases import service as cases
from waymark_referrals.cases.models import Case
from waymark_referrals.cases.schemas import Consent, ConsentWithdrawal, LegalBasis
from waymark_referrals.comments import repository as comments
from waymark_referrals.crypto import EnvelopeCipher
from waymark_referrals.directory.models import DirectoryOrganization, DirectoryService
from waymark_referrals.disclosures import service as disclosures
from waymark_referrals.disclosures.schemas import PersonalRead
from waymark_referrals.referrals import repository
from waymark_referrals.referrals.models import (
    IdempotentRequest,
    Referral,
    ReferralTransition,
    SharedPerson,
    idempotency_record,
    texts_record,
)
from waymark_referrals.referrals.repository import Located, ReferralIds
from waymark_referrals.referrals.schemas import (
    ANSWER_WITHIN_HOURS,
    CONSENT_WITHDRAWN,
    JourneyLeg,
    OnwardReferralCreate,
    ReferralCreate,
    ReferralRead,
    ReferralTexts,
    TransitionRead,
    TransitionRequest,
    TransitionTexts,
    split_code,
)
from waymark_referrals.referrals.states import (
    AWAITING_ANSWER,
    CARRIES_OUTCOME,
    REFERS_ONWARD,
    Party,
    Status,
    who_may,
)

EVENT_SOURCE = "waymark/referrals"


class Unprocessable(Problem):
    def __init__(self, detail: str, kind: str) -> None:
        super().__init__(422, detail, kind=kind)


def party_of(referral: Referral, identity: Identity) -> Party | None:
    if identity.belongs_to(referral.sender_org_id):
        return Party.sender
    # The receiver knows of a referral only once it has been requested.
    if identity.belongs_to(referral.receiver_org_id) and referral.requested_at is not None:
        return Party.receiver
    return None


def organization_of(party: Party, referral: Referral) -> uuid.UUID:
    return referral.sender_org_id if party is Party.sender else referral.receiver_org_id


def may_read_texts(located: Located, identity: Identity) -> bool:
    """Free text may speak of the person, so it follows the person's shared data: the other
    organisation loses it with it, while the case's owner keeps what it took part in (it holds
    the person's data itself). Nobody else reads it, not even the network admin."""
    return party_of(located.referral, identity) is not None and (
        located.snapshot is not None or identity.belongs_to(located.owner_org_id)
    )


def texts_of(cipher: EnvelopeCipher, referral: Referral) -> ReferralTexts:
    return ReferralTexts.model_validate(referral.opened(cipher, record=texts_record(referral.id)))


def _seal_texts(cipher: EnvelopeCipher, referral: Referral, texts: ReferralTexts) -> None:
    referral.store_sealed(cipher, texts.model_dump(), record=texts_record(referral.id))


def _readable_texts(cipher: EnvelopeCipher, identity: Identity, located: Located) -> ReferralTexts:
    if not may_read_texts(located, identity):
        return ReferralTexts()
    return texts_of(cipher, located.referral)


def present(
    referral: Referral, person: dict[str, Any] | None, texts: ReferralTexts, now: datetime
) -> ReferralRead:
    return ReferralRead.model_validate({
        **referral.model_dump(),
        "reason": texts.reason,
        "status_reason": referral.status_reason or texts.status_reason,
        "outcome": referral.outcome or texts.outcome,
        "person": person,
        "overdue": referral.status in AWAITING_ANSWER and referral.respond_by is not None
        and referral.respond_by < now,
    })


def changed_event(referral: Referral) -> ReferralChanged:
    return ReferralChanged(
        referral_id=referral.id, sender_org_id=referral.sender_org_id,
        receiver_org_id=referral.receiver_org_id, service_id=referral.service_id,
        status=referral.status, from_country=referral.from_country, to_country=referral.to_country,
        urgency=referral.urgency, version=referral.version,
    )


def _opened(
    cipher: EnvelopeCipher, identity: Identity, located: Located
) -> dict[str, Any] | None:
    """The shared person, for sender and receiver only."""
    referral, snapshot = located.referral, located.snapshot
    if snapshot is None or party_of(referral, identity) is None:
        return None
    return cipher.open(snapshot.sealed, record=str(referral.id))


async def _show(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity,
    shown: list[tuple[Located, dict[str, Any] | None, ReferralTexts]], now: datetime,
) -> list[ReferralRead]:
    """Presents referrals with the persons and texts opened for the caller; every person shown
    to another organisation than the case's owner, or to a person, goes into the disclosure
    ledger."""
    reads, disclosed = [], []
    for (referral, _, owner_org_id, legal_basis), person, texts in shown:
        read = present(referral, person, texts, now)
        reads.append(read)
        if read.person is not None:
            disclosed.append(PersonalRead(
                case_id=referral.case_id, owner_org_id=owner_org_id, referral_id=referral.id,
                fields=sorted(read.person.model_fields_set), legal_basis=legal_basis,
            ))
    await disclosures.record_reads(session, cipher, identity, disclosed)
    return reads


async def show(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, located: Located
) -> ReferralRead:
    opened = _opened(cipher, identity, located), _readable_texts(cipher, identity, located)
    return (await _show(session, cipher, identity, [(located, *opened)], utcnow()))[0]


async def visible(
    session: AsyncSession, identity: Identity, referral_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Located, Party | None]:
    located = await repository.find(session, referral_id, for_update=for_update)
    party = party_of(located.referral, identity) if located is not None else None
    if located is None or (party is None and not identity.is_network_admin):
        raise NotFound("referral")
    return located, party


def _require_legal_basis(consent: Consent | None, receiver: DirectoryOrganization) -> None:
    if consent is None:
        raise Unprocessable(
            "The case has no recorded legal basis for sharing; its owner records consent (or "
            "another basis) with PUT /v1/cases/{id}/consent first.", kind="no-legal-basis",
        )
    if consent.legal_basis is LegalBasis.vital_interest and not consent.justification:
        raise Unprocessable("vital_interest needs a written justification.", kind="no-legal-basis")
    if not consent.covers(receiver.country, receiver.type, receiver.verified):
        verified = "verified" if receiver.verified else "unverified"
        raise Unprocessable(
            f"The recorded consent does not cover sharing with a {verified} {receiver.type} in "
            f"{receiver.country}.", kind="outside-consent-scope",
        )


class LegParties(NamedTuple):
    """A new leg's case, its sender (the directory's entry None while it does not know it yet),
    its receiver and the receiver's service, checked."""

    case: Case
    sender_id: uuid.UUID
    sender: DirectoryOrganization | None
    receiver: DirectoryOrganization
    service: DirectoryService | None


async def _new_leg_parties(
    session: AsyncSession, organization_id: uuid.UUID, case_id: uuid.UUID,
    body: ReferralCreate | OnwardReferralCreate, *, case_owned: bool,
) -> LegParties:
    """The case (the sender's own when `case_owned`), the sender, the receiver and its service,
    checked against the registry's read-model."""
    case, sender, receiver, service = await repository.find_parties(
        session, case_id, organization_id, body.receiver_org_id, body.service_id
    )
    if case is None or (case_owned and case.organization_id != organization_id):
        raise Unprocessable("The case does not exist in your organisation.", kind="unknown-case")
    if receiver is None:
        raise Unprocessable(
            "The receiving organisation is not (yet) in the directory.", kind="unknown-receiver"
        )
    if receiver.id == organization_id:
        raise Unprocessable("An organisation cannot refer to itself.", kind="unknown-receiver")
    if body.service_id is not None and (service is None or not service.takes_referrals):
        raise Unprocessable(
            "The service does not exist, is not active, does not accept referrals or does not "
            "belong to the receiving organisation.", kind="service-unavailable",
        )
    return LegParties(case, organization_id, sender, receiver, service)


@dataclass(frozen=True)
class NewLeg:
    """A referral leg about to be written, its request checked: the parties it was checked
    against, the person's fields it shares and the leg it goes on from (None for a first leg)."""

    request: ReferralCreate | OnwardReferralCreate
    parties: LegParties
    shared: dict[str, Any]
    # Where the person is, for a sender whose own country the directory does not know yet.
    person_country: str | None
    parent_referral_id: uuid.UUID | None = None


async def _open_leg(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, leg: NewLeg, now: datetime
) -> ReferralRead:
    """Writes the new leg and answers it as its sender sees it."""
    body, shared = leg.request, leg.shared
    case, sender_id, sender, receiver, service = leg.parties
    from_country = sender.country if sender else leg.person_country
    if from_country is None:
        raise Unprocessable(
            "Your organisation's country is not known yet and the person has no current_country.",
            kind="unknown-country",
        )
    response_hours = ANSWER_WITHIN_HOURS[body.urgency]
    if service is not None and service.response_time_hours:
        response_hours = min(response_hours, service.response_time_hours)
    referral = Referral(
        id=uuid.uuid4(), case_id=case.id, sender_org_id=sender_id,
        receiver_org_id=receiver.id, service_id=body.service_id, from_country=from_country,
        to_country=service.countries[0] if service and service.countries else receiver.country,
        migration_stage=body.migration_stage, categories=body.categories, urgency=body.urgency,
        shared_fields=[field.value for field in body.shared_fields], status=Status.draft,
        parent_referral_id=leg.parent_referral_id, response_hours=response_hours, version=1,
        created_by=identity.subject, created_at=now, updated_at=now,
    )
    texts = ReferralTexts(reason=body.reason)
    _seal_texts(cipher, referral, texts)
    sealed = cipher.seal(shared, record=str(referral.id))
    snapshot = SharedPerson(
        referral_id=referral.id, created_at=now, key_id=sealed.key_id,
        wrapped_key=sealed.wrapped_key, ciphertext=sealed.ciphertext,
    )
    if body.status is Status.requested:
        await _request(session, referral, now)
    await repository.add_leg(session, referral, snapshot)
    await _history(
        session, cipher, referral, None, body.status, identity,
        await actors.recorded(session, cipher, identity), now, TransitionTexts(),
    )
    # Its sender sees what was just sealed: no need to open it again.
    located = Located(referral, snapshot, case.organization_id, case.legal_basis)
    return (await _show(session, cipher, identity, [(located, shared, texts)], now))[0]


async def create_referral(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, organization_id: uuid.UUID,
    body: ReferralCreate,
) -> ReferralRead:
    cases.require_case_writer(identity)
    parties = await _new_leg_parties(
        session, organization_id, body.case_id, body, case_owned=True
    )
    content = cases.open_content(cipher, parties.case)
    _require_legal_basis(content.consent, parties.receiver)
    shared = content.person.model_dump(
        mode="json", include={field.value for field in body.shared_fields}
    )
    leg = NewLeg(body, parties, shared, person_country=content.person.current_country)
    return await _open_leg(session, cipher, identity, leg, utcnow())


async def refer_onward(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, organization_id: uuid.UUID,
    parent_id: uuid.UUID, body: OnwardReferralCreate,
) -> ReferralRead:
    """The receiver of a referral refers the person on: the new leg shares at most what the
    receiver was shared, and only where the case owner's legal basis reaches."""
    (parent, snapshot, _, _), party = await visible(session, identity, parent_id)
    if party is not Party.receiver:
        raise Forbidden("Only the receiver of a referral may refer the person onward.")
    cases.require_case_writer(identity)
    if Status(parent.status) not in REFERS_ONWARD:
        raise Conflict(
            f"A referral that is {parent.status} cannot be referred onward; accept it first.",
            kind="invalid-transition",
        )
    beyond = set(body.shared_fields) - set(parent.shared_fields)
    if beyond:
        raise Unprocessable(
            f"You can pass on only what you were shared; not: {', '.join(sorted(beyond))}.",
            kind="beyond-shared-fields",
        )
    if snapshot is None:
        raise Unprocessable(
            "The person's data is no longer shared with you (withdrawn or erased).",
            kind="no-legal-basis",
        )
    parties = await _new_leg_parties(
        session, organization_id, parent.case_id, body, case_owned=False
    )
    _require_legal_basis(cases.open_content(cipher, parties.case).consent, parties.receiver)
    received = cipher.open(snapshot.sealed, record=str(parent.id))
    shared = {field.value: received[field] for field in body.shared_fields if field in received}
    leg = NewLeg(
        body, parties, shared, person_country=received.get("current_country"),
        parent_referral_id=parent.id,
    )
    return await _open_leg(session, cipher, identity, leg, utcnow())


async def journey(
    session: AsyncSession, organization_id: uuid.UUID, case_id: uuid.UUID, *,
    cursor: str | None, limit: int,
) -> Page[JourneyLeg]:
    """The owner sees every leg; another organisation only the legs it sends or receives
    (a draft only its sender), and 404 when it has none, as for an unknown case."""
    case = await session.get(Case, case_id)
    owner = case is not None and case.organization_id == organization_id
    after = position_after(cursor)
    legs = [] if case is None else await repository.legs_of_case(
        session, case_id, party=None if owner else organization_id, after=after, limit=limit + 1
    )
    if not owner and not legs and after is None:
        raise NotFound("case")
    return page_of(
        legs, limit, lambda leg: JourneyLeg.model_validate(leg, from_attributes=True),
        lambda leg: (leg.created_at, leg.id),
    )


async def _history(
    session: AsyncSession, cipher: EnvelopeCipher, referral: Referral, source: Status | None,
    target: Status, identity: Identity, actor: RecordedActor, now: datetime,
    texts: TransitionTexts,
) -> None:
    reason, free_reason = split_code(target, "reason", texts.reason)
    outcome, free_outcome = split_code(target, "outcome", texts.outcome)
    transition = ReferralTransition(
        id=uuid.uuid4(), referral_id=referral.id, from_status=source, to_status=target,
        reason=reason, outcome=outcome, actor_org_id=identity.organization_id, occurred_at=now,
        **ReferralTransition.acted_by(actor),
    )
    free = TransitionTexts(reason=free_reason, note=texts.note, outcome=free_outcome)
    transition.store_sealed(cipher, free.model_dump(), record=str(transition.id))
    await repository.add_transition(session, transition)


async def _request(session: AsyncSession, referral: Referral, now: datetime) -> None:
    referral.status = Status.requested
    referral.requested_at = now
    referral.respond_by = now + timedelta(hours=referral.response_hours)
    await record_event(session, EVENT_SOURCE, "referral.requested", changed_event(referral))


async def _move(
    session: AsyncSession, cipher: EnvelopeCipher, referral: Referral, target: Status,
    identity: Identity, actor: RecordedActor, now: datetime, texts: TransitionTexts,
) -> None:
    await _history(
        session, cipher, referral, Status(referral.status), target, identity, actor, now, texts
    )
    kept = texts_of(cipher, referral)
    referral.status_reason, kept.status_reason = split_code(target, "reason", texts.reason)
    if target in CARRIES_OUTCOME:
        referral.outcome, kept.outcome = split_code(target, "outcome", texts.outcome)
    _seal_texts(cipher, referral, kept)
    referral.version += 1
    referral.updated_at = now
    if target is Status.requested:
        await _request(session, referral, now)
        return
    referral.status = target
    # A draft that was never requested is the sender's alone: nobody else hears of it.
    if referral.requested_at is not None:
        await record_event(session, EVENT_SOURCE, f"referral.{target}", changed_event(referral))


async def transition(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, referral_id: uuid.UUID,
    body: TransitionRequest, expected: ExpectedVersion | None,
) -> ReferralRead:
    """Moves the referral if it is still at a version the caller `expected` to change."""
    located, party = await visible(session, identity, referral_id, for_update=True)
    referral = located.referral
    require_version(expected, referral.version, "referral")
    current = Status(referral.status)
    allowed = who_may(current, body.to)
    if allowed is None:
        raise Conflict(
            f"A referral that is {current} cannot become {body.to}.", kind="invalid-transition"
        )
    if party not in allowed:
        raise Forbidden(
            f"Only the {' or '.join(sorted(allowed))} may move a referral from {current} "
            f"to {body.to}."
        )
    cases.require_case_writer(identity)
    now = utcnow()
    await _move(
        session, cipher, referral, body.to, identity,
        await actors.recorded(session, cipher, identity), now,
        TransitionTexts(reason=body.reason, note=body.note, outcome=body.outcome),
    )
    await repository.save_moved(session, referral)
    return await show(session, cipher, identity, located)


@dataclass(frozen=True)
class FirstAnswers:
    """Where the referral requests sent with an Idempotency-Key keep their first answers (the
    kernel's AnswerStore): sealed, without the person, who is read afresh at each replay."""

    cipher: EnvelopeCipher
    identity: Identity

    async def recall(
        self, session: AsyncSession, key: IdempotencyKey, *, expired_before: datetime
    ) -> Remembered[ReferralRead] | None:
        first = await repository.find_idempotent_request(
            session, key.organization_id, key.key, expired_before=expired_before
        )
        if first is None:
            return None
        return Remembered(first.request_hash, partial(self._replay, session, first))

    async def _replay(self, session: AsyncSession, first: IdempotentRequest) -> ReferralRead:
        cases.require_case_writer(self.identity)
        located, _ = await visible(session, self.identity, first.referral_id)
        current = await show(session, self.cipher, self.identity, located)
        answer = first.opened(
            self.cipher, record=idempotency_record(first.organization_id, first.key)
        )
        if not answer:  # its free text was erased: the referral as it is now
            return current
        if not may_read_texts(located, self.identity):  # no longer the caller's to read
            status = Status(answer["status"])
            answer |= {
                "reason": None,
                "status_reason": split_code(status, "reason", answer["status_reason"])[0],
                "outcome": split_code(status, "outcome", answer["outcome"])[0],
            }
        return ReferralRead.model_validate({**answer, "person": current.person})

    async def remember(
        self, session: AsyncSession, key: IdempotencyKey, fingerprint: str, answer: ReferralRead,
        now: datetime,
    ) -> None:
        first = IdempotentRequest(
            organization_id=key.organization_id, key=key.key, request_hash=fingerprint,
            referral_id=answer.id, created_at=now,
        )
        first.store_sealed(
            self.cipher, answer.model_dump(mode="json", exclude={"person"}),
            record=idempotency_record(key.organization_id, key.key),
        )
        await repository.add_idempotent_request(session, first)


async def get_referral(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, referral_id: uuid.UUID
) -> ReferralRead:
    located, _ = await visible(session, identity, referral_id)
    return await show(session, cipher, identity, located)


async def list_referrals(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, organization_id: uuid.UUID,
    *, role: Literal["sent", "received"] | None, statuses: list[Status] | None,
    country: str | None, overdue: bool | None, urgency: str | None, cursor: str | None, limit: int,
) -> Page[ReferralRead]:
    now = utcnow()
    rows = await repository.list_for_organization(
        session, organization_id, role=role, statuses=statuses, country=country, overdue=overdue,
        urgency=urgency, now=now, after=position_after(cursor), limit=limit + 1,
    )
    shown = iter(await _show(session, cipher, identity, [
        (row, _opened(cipher, identity, row), _readable_texts(cipher, identity, row))
        for row in rows[:limit]
    ], now))
    return page_of(
        rows, limit, lambda _: next(shown),
        lambda row: (row.referral.created_at, row.referral.id),
    )


async def history(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, referral_id: uuid.UUID,
    *, cursor: str | None, limit: int,
) -> Page[TransitionRead]:
    located, _ = await visible(session, identity, referral_id)
    readable = may_read_texts(located, identity)
    rows = await repository.history(
        session, located.referral.id, after=position_after(cursor), limit=limit + 1
    )
    movers = iter(await actors.present(session, cipher, [row.actor for row in rows[:limit]]))

    def read(row: ReferralTransition) -> TransitionRead:
        texts = TransitionTexts.model_validate(
            row.opened(cipher, record=str(row.id)) if readable else {}
        )
        return TransitionRead(
            id=row.id, from_status=None if row.from_status is None else Status(row.from_status),
            to=Status(row.to_status),
            reason=row.reason or texts.reason, note=texts.note,
            outcome=row.outcome or texts.outcome, actor_subject=row.actor_subject,
            actor_org_id=row.actor_org_id, actor=next(movers), occurred_at=row.occurred_at,
        )

    return page_of(rows, limit, read, lambda row: (row.occurred_at, row.id))


async def withdraw_consent(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, organization_id: uuid.UUID,
    case_id: uuid.UUID,
) -> ConsentWithdrawal:
    """Cancels the open referrals that relied on it, deletes every shared snapshot and the
    free text of the legs the owner took no part in (see may_read_texts)."""
    case = await cases.owned_case(session, organization_id, case_id, for_update=True)
    cases.require_case_writer(identity)
    if case.legal_basis is None:
        raise Conflict("The case has no recorded legal basis to withdraw.", kind="no-legal-basis")
    actor = await actors.recorded(session, cipher, identity)
    withdrawal = cases.forget_consent(cipher, case, actor)
    now = withdrawal.withdrawn_at
    cancelled = await repository.open_referrals_of_case(session, case.id)
    for referral in cancelled:
        await _move(
            session, cipher, referral, Status.cancelled, identity, actor, now,
            TransitionTexts(reason=CONSENT_WITHDRAWN),
        )
    await repository.delete_shared_persons_of_case(session, case.id)
    await _erase_texts(session, repository.legs_without_owner(case_id=case.id))
    cancelled_ids = [referral.id for referral in cancelled]
    await record_event(session, EVENT_SOURCE, "case.consent_withdrawn", CaseConsentWithdrawn(
        case_id=case.id, organization_id=organization_id, cancelled_referral_ids=cancelled_ids,
    ))
    await session.flush()
    (shown_actor,) = await actors.present(session, cipher, [actor])
    return ConsentWithdrawal(
        case_id=case.id, withdrawn_at=now, actor=shown_actor, cancelled_referral_ids=cancelled_ids
    )


async def _erase_texts(session: AsyncSession, referral_ids: ReferralIds) -> None:
    """Erases the free text of these referrals: theirs, their history's and their comments'."""
    await repository.erase_texts(session, referral_ids)
    await comments.erase_texts(session, referral_ids)


async def sweep(
    session: AsyncSession, now: datetime, *, retention: timedelta, batch_size: int = 100
) -> int:
    """Announces referrals that passed their answer deadline (once each), erases the shared
    snapshots of referrals that ended longer than `retention` ago (and the free text of those
    the case's owner took no part in) and forgets expired
    idempotency keys. Returns how many referrals became overdue."""
    overdue = await repository.overdue_unannounced(session, now, batch_size)
    for referral in overdue:
        referral.overdue_announced = True
        await record_event(session, EVENT_SOURCE, "referral.overdue", changed_event(referral))
    await repository.erase_expired_snapshots(session, ended_before=now - retention)
    await _erase_texts(session, repository.legs_without_owner(ended_before=now - retention))
    await repository.forget_idempotent_requests(session, created_before=now - IDEMPOTENCY_WINDOW)
    await session.flush()
    return len(overdue)
