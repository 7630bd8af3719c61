"""People's accounts: invitations, enrolment (password, TOTP, recovery codes), checking a
sign-in's credentials, and what an organisation's admin does to its people."""

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_gateway.audit import service as audit
from waymark_gateway.people import repository, totp
from waymark_gateway.people.emails import InvalidEmail, normalized_email
from waymark_gateway.people.mail import InvitationMailer
from waymark_gateway.people.models import Invitation, PendingErasure, Person, RecoveryCode
from waymark_gateway.people.passwords import hash_password, password_matches
from waymark_gateway.people.schemas import (
    Enrolled,
    GrantableRole,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationRead,
    InvitationView,
    PersonRead,
    PersonUpdate,
    TotpEnrolment,
)
from waymark_gateway.people.sealing import PersonalDataBox, token_hash
from waymark_gateway.settings import GatewaySettings, SignInProvider
from waymark_kernel.api import Page, page_of, position_after
from waymark_kernel.auth import NETWORK_ADMIN, VIEWER, Identity
from waymark_kernel.clock import as_utc
from waymark_kernel.db import Database
from waymark_kernel.problems import Conflict, Forbidden, NotFound, Problem

RECOVERY_CODES = 10
GRANTABLE_ROLES: tuple[str, ...] = get_args(GrantableRole)
TOTP_ISSUER = "Waymark"
PASSWORD, ONE_TIME_CODE, RECOVERY, MULTI_FACTOR = "pwd", "otp", "rec", "mfa"
UNUSABLE_PASSWORD = "!"  # not an Argon2 hash: no password ever matches it


@dataclass(frozen=True)
class Accounts:
    """What the people domain needs from the settings, built once at start-up."""

    box: PersonalDataBox
    mailer: InvitationMailer
    public_url: str
    invitation_ttl: timedelta
    # Demo networks only: invitations may waive the second factor.
    waiver_allowed: bool
    viewer_second_factor_optional: bool

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> "Accounts":
        return cls(
            PersonalDataBox(settings.encryption_key), InvitationMailer(settings),
            (settings.public_url or settings.gateway_url).rstrip("/"),
            timedelta(hours=settings.invitation_hours), settings.should_seed_demo,
            settings.viewer_second_factor_optional,
        )

    def name_of(self, person: Person) -> str:
        return self.box.open(person.name_sealed, f"person-name:{person.id}")

    def email_of(self, person: Person) -> str:
        return self.box.open(person.email_sealed, f"person-email:{person.id}")

    def present(self, person: Person) -> PersonRead:
        return PersonRead(
            id=person.id, organization_id=person.organization_id, name=self.name_of(person),
            email=self.email_of(person), roles=person.roles, active=person.active,
            mfa_enrolled=person.totp_secret_sealed is not None,
            last_sign_in_at=person.last_sign_in_at,
        )

    def second_factor_required(self, person: Person) -> bool:
        if person.second_factor_waived and self.waiver_allowed:
            return False
        return self.second_factor_required_for(person.roles)

    def second_factor_required_for(self, roles: list[str]) -> bool:
        return not (self.viewer_second_factor_optional and set(roles) <= {VIEWER})

    def unknown_email_target(self, email: str) -> str:
        return "email:" + self.box.fingerprint(email)[:32]

    def external_subject_target(self, provider_name: str, subject: str) -> str:
        """An unlinked provider identity in the audit log: a keyed hash, never the subject."""
        return "subject:" + self.box.fingerprint(f"{provider_name}:{subject}")[:32]


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("A person with this email address exists already.", kind="email-taken")


async def _add_person(session: AsyncSession, person: Person) -> None:
    """Stores a new person; two requests racing to make the same one get one person and a 409."""
    try:
        await repository.add_person(session, person)
    except repository.PersonExists as exc:
        raise EmailTaken() from exc


class SignInRefused(Problem):
    """The same answer for an unknown email, a wrong password or code, or an inactive person."""

    def __init__(self) -> None:
        super().__init__(
            401, "The email, password or code is not right, or the account is not active.",
            kind="sign-in-refused",
        )


# Invitations

def _invitation_read(accounts: Accounts, invitation: Invitation) -> InvitationRead:
    return InvitationRead(
        id=invitation.id, roles=invitation.roles, expires_at=invitation.expires_at,
        email=accounts.box.open(invitation.email_sealed, f"invitation-email:{invitation.id}"),
        accepted_at=invitation.accepted_at,
    )


async def _ensure_address_free(
    session: AsyncSession, fingerprint: str, organization_id: uuid.UUID
) -> None:
    existing = await repository.person_by_email(session, fingerprint)
    if existing is not None and existing.organization_id != organization_id:
        raise Conflict("This email address belongs to a person of another organisation.",
                       kind="email-in-another-organization")
    if existing is not None:
        raise Conflict("A person with this email address is already in the organisation.",
                       kind="email-taken")
    now = datetime.now(UTC)
    if await repository.pending_invitation_elsewhere(session, fingerprint, organization_id, now):
        raise Conflict("This email address is invited by another organisation.",
                       kind="email-in-another-organization")


def _ensure_may_change_network_admin(actor: Identity, before: Sequence[str], after: Sequence[str]) -> None:
    """Only a network admin makes or unmakes one: an organisation's admin cannot raise herself
    or a colleague to the whole network's administration, nor demote a network admin."""
    if (NETWORK_ADMIN in before) != (NETWORK_ADMIN in after) and not actor.is_network_admin:
        raise Forbidden("Only a network admin may give or take away the network_admin role.")


async def create_invitation(
    session: AsyncSession, accounts: Accounts, organization_id: uuid.UUID,
    data: InvitationCreate, actor: Identity, address: str | None,
) -> InvitationCreated:
    _ensure_may_change_network_admin(actor, [], data.roles)
    if data.second_factor_waived and not accounts.waiver_allowed:
        raise Problem(422, "Only a demo network may waive the second factor.",
                      kind="second-factor-required")
    fingerprint = accounts.box.fingerprint(data.email)
    await _ensure_address_free(session, fingerprint, organization_id)
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    invitation = Invitation(
        id=uuid.uuid4(), organization_id=organization_id, token_hash=token_hash(token),
        email_fingerprint=fingerprint, email_sealed=b"", roles=list(data.roles),
        second_factor_waived=data.second_factor_waived, invited_by=actor.subject,
        created_at=now, expires_at=now + accounts.invitation_ttl,
    )
    invitation.email_sealed = accounts.box.seal(data.email, f"invitation-email:{invitation.id}")
    await repository.add(session, invitation)
    await audit.record(session, audit.Event(
        organization_id, actor.subject, "invitation_created", str(invitation.id), address,
    ))
    accept_url = f"{accounts.public_url}/invitations/{token}"
    if accounts.mailer.configured:
        await accounts.mailer.send(data.email, accept_url, accounts.invitation_ttl.total_seconds() / 3600)
    return InvitationCreated(
        **_invitation_read(accounts, invitation).model_dump(),
        accept_url=None if accounts.mailer.configured else accept_url,
    )


async def list_invitations(
    session: AsyncSession, accounts: Accounts, organization_id: uuid.UUID, limit: int,
    cursor: str | None,
) -> Page[InvitationRead]:
    rows = await repository.organization_invitations(
        session, organization_id, after=position_after(cursor), limit=limit + 1
    )
    return page_of(rows, limit, lambda row: _invitation_read(accounts, row),
                   lambda row: (row.created_at, row.id))


async def _open_invitation(session: AsyncSession, token: str) -> Invitation:
    invitation = await repository.invitation_by_token(session, token_hash(token))
    if invitation is None:
        raise NotFound("invitation")
    if invitation.accepted_at is not None:
        raise Problem(410, "This invitation has been used already; ask for a new one.",
                      kind="invitation-used")
    if as_utc(invitation.expires_at) <= datetime.now(UTC):
        raise Problem(410, "This invitation has expired; ask for a new one.",
                      kind="invitation-expired")
    return invitation


async def view_invitation(session: AsyncSession, accounts: Accounts, token: str) -> InvitationView:
    invitation = await _open_invitation(session, token)
    return InvitationView(
        email=accounts.box.open(invitation.email_sealed, f"invitation-email:{invitation.id}"),
        organization_id=invitation.organization_id, roles=invitation.roles,
        expires_at=invitation.expires_at,
    )


def _enrolment(secret: str, email: str) -> TotpEnrolment:
    uri = totp.otpauth_uri(secret, account=email, issuer=TOTP_ISSUER)
    return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


async def _new_recovery_codes(
    session: AsyncSession, accounts: Accounts, person_id: uuid.UUID
) -> list[str]:
    await repository.delete_recovery_codes(session, person_id)
    codes = [
        "-".join(secrets.token_hex(3) for _ in range(3)) for _ in range(RECOVERY_CODES)
    ]
    await repository.add(session, *(
        RecoveryCode(fingerprint=accounts.box.fingerprint(f"recovery:{code}"), person_id=person_id)
        for code in codes
    ))
    return codes


async def accept_invitation(
    session: AsyncSession, accounts: Accounts, token: str, data: InvitationAccept,
    address: str | None,
) -> Enrolled:
    invitation = await _open_invitation(session, token)
    now = datetime.now(UTC)
    if not await repository.claim_invitation(session, invitation.id, now):
        raise Problem(410, "This invitation has been used already; ask for a new one.",
                      kind="invitation-used")
    if await repository.person_by_email(session, invitation.email_fingerprint) is not None:
        raise EmailTaken()
    email = accounts.box.open(invitation.email_sealed, f"invitation-email:{invitation.id}")
    person = Person(
        id=uuid.uuid4(), organization_id=invitation.organization_id,
        email_fingerprint=invitation.email_fingerprint, email_sealed=b"", name_sealed=b"",
        roles=invitation.roles, password_hash=await hash_password(data.password),
        second_factor_waived=invitation.second_factor_waived, created_at=now,
    )
    person.email_sealed = accounts.box.seal(email, f"person-email:{person.id}")
    person.name_sealed = accounts.box.seal(data.name, f"person-name:{person.id}")
    enrolment, codes = None, []
    if not invitation.second_factor_waived:
        secret = totp.new_secret()
        person.totp_secret_sealed = accounts.box.seal(secret, f"person-totp:{person.id}")
        enrolment = _enrolment(secret, email)
    await _add_person(session, person)
    if enrolment is not None:
        codes = await _new_recovery_codes(session, accounts, person.id)
    await audit.record(session, audit.Event(
        person.organization_id, str(person.id), "invitation_accepted", str(invitation.id), address,
    ))
    return Enrolled(person=accounts.present(person), totp=enrolment, recovery_codes=codes)


# Signing in

@dataclass(frozen=True)
class Verified:
    person: Person
    amr: tuple[str, ...]
    recovery_codes: list[str] | None = None  # new codes when the sign-in enrolled a factor


class EnrolmentRequired(Problem):
    def __init__(self, enrolment: TotpEnrolment) -> None:
        super().__init__(
            403, "A second factor must be set up: add this key to an authenticator app and sign "
            "in again with its code.", kind="second-factor-enrolment-required",
            extra={"totp": enrolment.model_dump()},
        )


async def _second_factor(
    session: AsyncSession, accounts: Accounts, person: Person, code: str | None
) -> tuple[str, ...] | None:
    """The methods a valid code adds, or None when the code is missing, wrong or used."""
    if not code:
        return None
    if person.totp_secret_sealed is None:  # not enrolled: no code can match
        return None
    now = datetime.now(UTC)
    secret = accounts.box.open(person.totp_secret_sealed, f"person-totp:{person.id}")
    step = totp.matching_step(secret, code.strip(), last_used_step=person.totp_last_step)
    if step is not None:
        return (ONE_TIME_CODE, MULTI_FACTOR) if await repository.claim_totp_step(
            session, person.id, step) else None
    fingerprint = accounts.box.fingerprint(f"recovery:{code.strip().lower()}")
    if await repository.use_recovery_code(session, person.id, fingerprint, now):
        return (RECOVERY, MULTI_FACTOR)
    return None


async def _enrol_at_sign_in(
    session: AsyncSession, database: Database, accounts: Accounts, person: Person,
    code: str | None,
) -> Verified:
    """After a reset: the first sign-in offers a key, the next one enrols it with its code."""
    context = f"person-totp:{person.id}"
    if person.totp_pending_sealed is not None and code:
        secret = accounts.box.open(person.totp_pending_sealed, context)
        step = totp.matching_step(secret, code.strip(), last_used_step=None)
        if step is not None:
            person.totp_secret_sealed, person.totp_pending_sealed = person.totp_pending_sealed, None
            person.totp_last_step = step
            codes = await _new_recovery_codes(session, accounts, person.id)
            return Verified(person, (PASSWORD, ONE_TIME_CODE, MULTI_FACTOR), codes)
    secret, person_id = totp.new_secret(), person.id
    enrolment = _enrolment(secret, accounts.email_of(person))
    await session.rollback()
    async with database.transaction() as apart:  # kept although this sign-in is refused
        pending = await repository.person(apart, person_id)
        if pending is not None:  # deleted meanwhile: nothing to keep
            pending.totp_pending_sealed = accounts.box.seal(secret, context)
    raise EnrolmentRequired(enrolment)


async def _refused(session: AsyncSession, database: Database, event: audit.Event) -> None:
    """Audits a refused sign-in; nothing else of the attempt is kept (and SQLite is free)."""
    await session.rollback()
    await audit.record_apart(database, event)


async def verify_sign_in(
    session: AsyncSession, database: Database, accounts: Accounts, email: str, password: str,
    code: str | None, address: str | None,
) -> Verified:
    """The person whose credentials these are; a refusal is audited (in its own transaction)."""
    person = await repository.person_by_email(session, accounts.box.fingerprint(email))
    matches = await password_matches(person.password_hash if person else None, password)

    async def refuse(result: str) -> SignInRefused:
        await _refused(session, database, audit.Event(
            person.organization_id if person else None, audit.ANONYMOUS, "sign_in",
            str(person.id) if person else accounts.unknown_email_target(email), address, result,
        ))
        return SignInRefused()

    if person is None:
        raise await refuse("unknown_email")
    if not matches:
        raise await refuse("wrong_password")
    if not person.active:
        raise await refuse("inactive")
    if person.totp_secret_sealed is not None:
        methods = await _second_factor(session, accounts, person, code)
        if methods is None:
            raise await refuse("wrong_code")
        verified = Verified(person, (PASSWORD, *methods))
    elif accounts.second_factor_required(person):
        verified = await _enrol_at_sign_in(session, database, accounts, person, code)
    else:
        verified = Verified(person, (PASSWORD,))
    person.last_sign_in_at = datetime.now(UTC)
    await audit.record(session, audit.Event(
        person.organization_id, str(person.id), "sign_in", str(person.id), address,
    ))
    return verified


async def record_locked_attempt(
    session: AsyncSession, database: Database, accounts: Accounts, email: str,
    address: str | None,
) -> None:
    """Audits a sign-in refused because the account is locked from `address` (apart, as the
    request fails); the answer itself is the same whether the email exists or not."""
    person = await repository.person_by_email(session, accounts.box.fingerprint(email))
    event = audit.Event(
        person.organization_id if person else None, audit.ANONYMOUS, "sign_in",
        str(person.id) if person else accounts.unknown_email_target(email), address, "locked",
    )
    await session.rollback()  # nothing of the refused attempt is kept (and SQLite is free)
    await audit.record_apart(database, event)


# What an organisation's admin does

async def list_people(
    session: AsyncSession, accounts: Accounts, organization_id: uuid.UUID, limit: int,
    cursor: str | None,
) -> Page[PersonRead]:
    rows = await repository.organization_people(
        session, organization_id, after=position_after(cursor), limit=limit + 1
    )
    return page_of(rows, limit, accounts.present, lambda row: (row.created_at, row.id))


async def person_managed_by(
    session: AsyncSession, actor: Identity, person_id: uuid.UUID
) -> Person:
    """The person, when `actor` administers her organisation; 404 for anyone else. A network
    admin is managed by network admins only (403)."""
    person = await repository.person(session, person_id)
    if person is None or person.deleted_at is not None or not actor.is_admin_of(
        person.organization_id
    ):
        raise NotFound("person")
    if NETWORK_ADMIN in person.roles and not actor.is_network_admin:
        raise Forbidden("Only a network admin may manage a network admin.")
    return person


@dataclass(frozen=True)
class Change:
    """What an update did, for the sessions to follow: roles to apply, or every session to end
    (and, for a deactivation, every token refused too)."""

    roles: tuple[str, ...] | None
    sessions_end: bool
    tokens_revoked: bool


async def update_person(
    session: AsyncSession, accounts: Accounts, actor: Identity, person_id: uuid.UUID,
    data: PersonUpdate, address: str | None,
) -> tuple[PersonRead, Change]:
    if data.roles is None and data.active is None:
        raise Problem(422, "Give `roles` or `active`.", kind="nothing-to-change")
    person = await person_managed_by(session, actor, person_id)
    roles, ends, revoked = None, False, False
    if data.roles is not None and data.roles != person.roles:
        _ensure_may_change_network_admin(actor, person.roles, data.roles)
        person.roles = list(data.roles)
        roles = tuple(person.roles)
        # A session begun without a second factor must not carry roles that need one.
        ends = person.totp_secret_sealed is None and accounts.second_factor_required(person)
        await audit.record(session, audit.Event(
            person.organization_id, actor.subject, "roles_changed", str(person.id), address,
        ))
    if data.active is not None and data.active != person.active:
        person.active = data.active
        person.deactivated_at = None if data.active else datetime.now(UTC)
        ends = ends or not data.active
        revoked = not data.active
        await audit.record(session, audit.Event(
            person.organization_id, actor.subject,
            "reactivated" if data.active else "deactivated", str(person.id), address,
        ))
    await session.flush()
    return accounts.present(person), Change(roles, ends, revoked)


async def reset_second_factor(
    session: AsyncSession, accounts: Accounts, actor: Identity, person_id: uuid.UUID,
    address: str | None,
) -> PersonRead:
    person = await person_managed_by(session, actor, person_id)
    person.totp_secret_sealed = person.totp_pending_sealed = None
    person.totp_last_step = None
    await repository.delete_recovery_codes(session, person.id)
    await audit.record(session, audit.Event(
        person.organization_id, actor.subject, "second_factor_reset", str(person.id), address,
    ))
    await session.flush()
    return accounts.present(person)


async def delete_person(
    session: AsyncSession, actor: Identity, person_id: uuid.UUID, address: str | None
) -> None:
    """Erases a deactivated person's account, keeping a tombstone (her id, later her
    pseudonym) so that the audit log still resolves; her names in the referrals service's
    records are erased after this transaction, through the pending erasure it stores."""
    person = await person_managed_by(session, actor, person_id)
    if person.active:
        raise Conflict("Deactivate the person first; only a deactivated account is deleted.",
                       kind="person-active")
    now = datetime.now(UTC)
    await repository.delete_recovery_codes(session, person.id)
    await repository.delete_accepted_invitations(session, person.email_fingerprint)
    person.email_fingerprint = f"deleted:{person.id}"  # her address may be invited again
    person.email_sealed = person.name_sealed = b""
    person.totp_secret_sealed = person.totp_pending_sealed = None
    person.password_hash = UNUSABLE_PASSWORD
    person.external_provider = person.external_subject = None
    person.roles = []
    person.deleted_at = now
    await repository.add(session, PendingErasure(
        person_id=person.id, requested_at=now, next_attempt_at=now,
    ))
    await audit.record(session, audit.Event(
        person.organization_id, actor.subject, "person_deleted", str(person.id), address,
    ))


async def display_name(database: Database, accounts: Accounts, person_id: uuid.UUID) -> str:
    async with database.transaction() as session:
        person = await repository.person(session, person_id)
    if person is None:
        return ""
    return (person.pseudonym or "") if person.deleted_at else accounts.name_of(person)


async def signed_in_person(
    session: AsyncSession, accounts: Accounts, person_id: uuid.UUID
) -> PersonRead | None:
    person = await repository.person(session, person_id)
    return accounts.present(person) if person is not None and person.active else None


# Signing in through an organisation's own OpenID Connect provider

EXTERNAL = "ext"


class ExternalSignInRefused(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(403, detail, kind="external-sign-in-refused")


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _names_organization(value: Any, organization_id: uuid.UUID) -> bool:
    try:
        return uuid.UUID(str(value)) == organization_id
    except ValueError:
        return False


async def _linked_by_invitation(
    session: AsyncSession, accounts: Accounts, provider_name: str, organization_id: uuid.UUID,
    subject: str, claims: dict[str, Any], token: str, now: datetime,
) -> Person:
    invitation = await _open_invitation(session, token)
    if invitation.organization_id != organization_id:
        raise ExternalSignInRefused("This invitation is not for this provider's organisation.")
    if _vouches_for_another_email(accounts, claims, invitation.email_fingerprint):
        raise ExternalSignInRefused(
            "This invitation is for another email address than the one your sign-in provider "
            "gives for you: sign in there as the person invited, or ask for a new invitation.")
    if not await repository.claim_invitation(session, invitation.id, now):
        raise Problem(410, "This invitation has been used already; ask for a new one.",
                      kind="invitation-used")
    if await repository.person_by_email(session, invitation.email_fingerprint) is not None:
        raise EmailTaken()
    email = accounts.box.open(invitation.email_sealed, f"invitation-email:{invitation.id}")
    return _new_person(accounts, organization_id, email, invitation.email_fingerprint,
                       str(claims.get("name") or email.partition("@")[0]), invitation.roles,
                       provider_name, subject, now)


def _vouches_for_another_email(
    accounts: Accounts, claims: dict[str, Any], invited_fingerprint: str
) -> bool:
    """Whether the provider gives a verified address other than the invited one (a forwarded
    invitation link is refused); with none, or one it has not verified, the token is the proof,
    as when an invitation is accepted with a password."""
    given = claims.get("email")
    if not given or claims.get("email_verified") is False:
        return False
    try:
        return accounts.box.fingerprint(normalized_email(str(given))) != invited_fingerprint
    except InvalidEmail:
        return True


def _new_person(
    accounts: Accounts, organization_id: uuid.UUID, email: str, fingerprint: str, name: str,
    roles: list[str], provider_name: str, subject: str, now: datetime,
) -> Person:
    person = Person(
        id=uuid.uuid4(), organization_id=organization_id, email_fingerprint=fingerprint,
        email_sealed=b"", name_sealed=b"", roles=roles, password_hash=UNUSABLE_PASSWORD,
        external_provider=provider_name, external_subject=subject, created_at=now,
    )
    person.email_sealed = accounts.box.seal(email, f"person-email:{person.id}")
    person.name_sealed = accounts.box.seal(name[:200], f"person-name:{person.id}")
    return person


async def external_sign_in(
    session: AsyncSession, database: Database, accounts: Accounts, provider_name: str,
    provider: SignInProvider, claims: dict[str, Any], invitation_token: str | None,
    address: str | None,
) -> Verified:
    """The person the provider vouches for: linked before, linked now by an invitation, or
    (when the provider names roles) admitted with the roles it names. A refusal is audited."""
    now = datetime.now(UTC)
    subject = str(claims["sub"])[:255]
    methods = {str(method) for method in claims.get("amr", []) or []}
    person = await repository.person_by_external_subject(session, provider_name, subject)
    target = str(person.id) if person else accounts.external_subject_target(provider_name, subject)

    async def refuse(result: str, problem: Problem) -> Problem:
        await _refused(session, database, audit.Event(
            provider.organization_id, audit.ANONYMOUS, "sign_in_external", target, address, result,
        ))
        return problem

    if provider.mfa_required and MULTI_FACTOR not in methods:
        raise await refuse("no_second_factor", ExternalSignInRefused(
            "The sign-in provider did not check a second factor, which this network requires."))
    if provider.organization_claim and not _names_organization(
        _claim(claims, provider.organization_claim), provider.organization_id
    ):
        raise await refuse("other_organization", ExternalSignInRefused(
            "The sign-in provider does not name this provider's organisation as yours."))
    granted = None
    if provider.roles_claim:
        named = _claim(claims, provider.roles_claim) or []
        granted = [role for role in GRANTABLE_ROLES if isinstance(named, list) and role in named]
        if not granted:
            raise await refuse("no_role", ExternalSignInRefused(
                "The sign-in provider names no Waymark role for you."))
    if person is None and invitation_token:
        try:
            person = await _linked_by_invitation(
                session, accounts, provider_name, provider.organization_id, subject, claims,
                invitation_token, now)
            await _add_person(session, person)
        except Problem as problem:
            raise await refuse("invitation_refused", problem) from problem
    elif person is None and granted:
        try:
            email = normalized_email(str(claims.get("email") or ""))
        except InvalidEmail as exc:
            raise await refuse("no_email", ExternalSignInRefused(
                "The sign-in provider gave no usable email address.")) from exc
        fingerprint = accounts.box.fingerprint(email)
        if await repository.person_by_email(session, fingerprint) is not None:
            raise await refuse("email_taken", EmailTaken())
        person = _new_person(accounts, provider.organization_id, email, fingerprint,
                             str(claims.get("name") or email.partition("@")[0]), granted,
                             provider_name, subject, now)
        try:
            await _add_person(session, person)
        except EmailTaken as problem:
            raise await refuse("email_taken", problem) from problem
    if person is None:
        raise await refuse("not_linked", ExternalSignInRefused(
            "No Waymark account is linked to this identity: accept an invitation through the "
            "provider first."))
    if not person.active:
        raise await refuse("inactive", SignInRefused())
    if MULTI_FACTOR not in methods and accounts.second_factor_required_for(granted or person.roles):
        raise await refuse("no_second_factor", ExternalSignInRefused(
            "The sign-in provider did not check a second factor, which your roles require."))
    if granted and granted != person.roles:
        person.roles = granted
    person.last_sign_in_at = now
    await audit.record(session, audit.Event(
        person.organization_id, str(person.id), "sign_in_external", str(person.id), address,
    ))
    amr = (EXTERNAL, MULTI_FACTOR) if MULTI_FACTOR in methods else (EXTERNAL,)
    return Verified(person, amr)
