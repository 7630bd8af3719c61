"""Who acted: every record of the service (a case's creation, consent given and withdrawn,
a referral's history, comments, the disclosure ledger) keeps `actor: {kind, id, name}`.

A person's display name is personal data: it is sealed in its own row (`ActorName`), one per
name she acted under, and records keep only that row's id, never the name, so the name never
reaches a hash chain, an event, a webhook or a log. An API client's name is not personal and is
kept in the clear.

Erasure: when a caseworker's account is deleted after deactivation, the gateway (the only
holder of accounts) calls `POST /internal/people/{id}/erasure` on this service with a
network_admin token. The path is outside `/v1`, so the gateway never forwards it from the
outside and the merged API document does not show it. Each sealed name of hers becomes the same
pseudonym, `person-` and 8 hex digits of a keyed hash of her id; her id stays, so what she did
is still told apart from what others did. The ledger's hashes cover the name row's id, not the
name, so every chain still verifies."""

import hashlib
import hmac
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.problems import Forbidden
from waymark_referrals.actors import repository
from waymark_referrals.actors.models import ActorName
from waymark_referrals.actors.schemas import Actor, PersonErasure, RecordedActor
from waymark_referrals.crypto import EnvelopeCipher

PSEUDONYM_PURPOSE = "actor-pseudonym"


def _open_name(cipher: EnvelopeCipher, name: ActorName) -> str:
    """The name she acted under, or her pseudonym once it was erased."""
    if name.pseudonym is not None:
        return name.pseudonym
    opened: str = name.opened(cipher, record=str(name.id))["name"]
    return opened


async def recorded(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity
) -> RecordedActor:
    """The actor a record keeps for this caller; a person's name is sealed once per name."""
    if not identity.is_person:
        return RecordedActor(kind="client", id=identity.subject, name=identity.name)
    if identity.name is None:
        return RecordedActor(kind="person", id=identity.subject)
    latest = await repository.latest_name(session, identity.subject)
    if latest is not None and latest.ciphertext is not None and (
        _open_name(cipher, latest) == identity.name
    ):
        return RecordedActor(kind="person", id=identity.subject, name_id=latest.id)
    name = ActorName(id=uuid.uuid4(), person_id=identity.subject, recorded_at=utcnow())
    name.store(cipher.seal({"name": identity.name}, record=str(name.id)))
    await repository.add_name(session, name)
    return RecordedActor(kind="person", id=identity.subject, name_id=name.id)


async def present(
    session: AsyncSession, cipher: EnvelopeCipher, actors: Sequence[RecordedActor]
) -> list[Actor]:
    """The actors as the API shows them, people's names opened (all in one query)."""
    rows = await repository.names(
        session, {actor.name_id for actor in actors if actor.name_id is not None}
    )
    names = {row.id: _open_name(cipher, row) for row in rows}
    return [
        Actor(
            kind=actor.kind, id=actor.id,
            name=names.get(actor.name_id) if actor.name_id is not None else actor.name,
        )
        for actor in actors
    ]


def pseudonym(cipher: EnvelopeCipher, person_id: uuid.UUID) -> str:
    key = cipher.derived_key(PSEUDONYM_PURPOSE)
    return "person-" + hmac.new(key, str(person_id).encode(), hashlib.sha256).hexdigest()[:8]


async def erase_person(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, person_id: uuid.UUID
) -> PersonErasure:
    """Replaces every name the person acted under by her pseudonym; a repeat changes nothing
    (and answers the pseudonym given the first time, even under a newer key)."""
    if not identity.is_network_admin:
        raise Forbidden("Erasing a person's name needs the network_admin role.")
    subject = str(person_id)
    given = await repository.pseudonym_of(session, subject) or pseudonym(cipher, person_id)
    erased = await repository.erase_names(session, subject, given)
    return PersonErasure(person_id=person_id, pseudonym=given, names_erased=erased)
