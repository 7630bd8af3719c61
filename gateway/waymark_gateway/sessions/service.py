"""People's sessions: started at sign-in under a fresh id, found by the cookie, ended by sign-out
(here or everywhere) or deactivation; and the token the services receive for the person."""

import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from redis.exceptions import RedisError

from waymark_gateway.identity.schemas import TokenResponse
from waymark_gateway.identity.service import Issuer
from waymark_gateway.people.models import Person
from waymark_gateway.people.sealing import token_hash
from waymark_gateway.sessions.repository import SessionRecord, SessionStore
from waymark_kernel.auth import PERSON, Identity, Unauthenticated
from waymark_kernel.problems import Problem

log = logging.getLogger("waymark.gateway.sessions")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HTTPS_COOKIE, PLAIN_COOKIE = "__Host-waymark_session", "waymark_session"
CSRF_HEADER, CSRF_FIELD = "x-csrf-token", "csrf_token"
FORWARDED_TOKEN_SECONDS = 60
CACHE_SIZE = 10_000


def cookie_name(https: bool) -> str:
    """`__Host-` binds the cookie to this origin over HTTPS; browsers refuse it over plain HTTP."""
    return HTTPS_COOKIE if https else PLAIN_COOKIE


def flow_cookie_name(https: bool) -> str:
    """The cookie carrying an external sign-in's sealed state between start and callback."""
    return "__Host-waymark_sign_in_flow" if https else "waymark_sign_in_flow"


class CsrfRefused(Problem):
    def __init__(self) -> None:
        super().__init__(
            403, "A request made with the session cookie that changes something must carry the "
            "session's csrf_token (header X-CSRF-Token, or the form field csrf_token).",
            kind="csrf-token-missing",
        )


class SessionEnded(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("The session has ended or never existed; sign in again.")


@dataclass(frozen=True)
class ActiveSession:
    id_hash: str
    record: SessionRecord

    def identity(self, name: str | None = None) -> Identity:
        return Identity(
            subject=str(self.record.person_id), organization_id=self.record.organization_id,
            roles=frozenset(self.record.roles), kind=PERSON, name=name,
            amr=frozenset(self.record.amr), session=self.id_hash,
        )

    def check_csrf(self, method: str, presented: str | None) -> None:
        if method in SAFE_METHODS:
            return
        if not presented or not secrets.compare_digest(presented, self.record.csrf_token):
            raise CsrfRefused()


class StoreUnavailable(Problem):
    def __init__(self) -> None:
        super().__init__(
            503, "The session store cannot be reached; try again shortly.",
            kind="session-store-unavailable", headers={"Retry-After": "1"},
        )


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """A failing shared store refuses sessions (503): it never lets a request through unchecked."""
    try:
        yield
    except (RedisError, OSError) as exc:
        log.warning("session store failed", extra={"error": type(exc).__name__})
        raise StoreUnavailable() from exc


class Sessions:
    def __init__(
        self, store: SessionStore, issuer: Issuer, *, max_seconds: float,
        display_name: Callable[[uuid.UUID], Awaitable[str]],
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.max_seconds = max_seconds
        self.display_name = display_name
        self._forwarded: dict[str, tuple[float, tuple[str, ...], str]] = {}
        self._names: dict[str, str] = {}

    async def start(
        self, person: Person, amr: tuple[str, ...], previous_id: str | None
    ) -> tuple[str, SessionRecord]:
        """A new session under a new id; the one the browser held before (if any) ends, so an
        id planted in the browser before sign-in never becomes a signed-in session."""
        if previous_id:
            await self.end(previous_id)
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        record = SessionRecord(
            person_id=person.id, organization_id=person.organization_id,
            roles=tuple(person.roles), amr=amr, csrf_token=secrets.token_urlsafe(32),
            created_at=now, expires_at=now + self.max_seconds, last_seen_at=now,
        )
        with store_errors():
            await self.store.save(token_hash(session_id), record)
        return session_id, record

    async def find(self, session_id: str | None) -> ActiveSession:
        if not session_id or len(session_id) > 128:
            raise SessionEnded()
        id_hash = token_hash(session_id)
        with store_errors():
            record = await self.store.load(id_hash)
        if record is None:
            self._forget(id_hash)
            raise SessionEnded()
        return ActiveSession(id_hash, record)

    async def end(self, session_id: str) -> None:
        id_hash = token_hash(session_id)
        self._forget(id_hash)
        with store_errors():
            await self.store.delete(id_hash)

    async def end_everywhere(self, person_id: uuid.UUID) -> None:
        with store_errors():
            await self.store.delete_person(person_id)

    async def set_roles(self, person_id: uuid.UUID, roles: tuple[str, ...]) -> None:
        with store_errors():
            await self.store.set_roles(person_id, roles)

    async def live_record(self, id_hash: str) -> SessionRecord | None:
        """The session a person's token names, or None once it has ended."""
        with store_errors():
            return await self.store.load(id_hash)

    def _forget(self, id_hash: str) -> None:
        self._forwarded.pop(id_hash, None)
        self._names.pop(id_hash, None)

    async def name_of(self, active: ActiveSession) -> str:
        """The person's display name, read once per session on this replica."""
        name = self._names.get(active.id_hash)
        if name is None:
            if len(self._names) >= CACHE_SIZE:
                self._names.clear()
            name = self._names[active.id_hash] = await self.display_name(active.record.person_id)
        return name

    async def forwarded_token(self, active: ActiveSession) -> str:
        """The short-lived token the services receive for this session's person."""
        now = time.time()
        cached = self._forwarded.get(active.id_hash)
        if cached is not None and cached[0] > now + 5 and cached[1] == active.record.roles:
            return cached[2]
        token = self._issue(active.identity(await self.name_of(active)), FORWARDED_TOKEN_SECONDS)
        if len(self._forwarded) >= CACHE_SIZE:
            self._forwarded.clear()
        self._forwarded[active.id_hash] = (now + FORWARDED_TOKEN_SECONDS, active.record.roles, token)
        return token

    async def bearer_token(self, active: ActiveSession) -> TokenResponse:
        """A token for the person's own API use, as long-lived as a client's but never past the
        session's absolute end."""
        remaining = int(active.record.expires_at - time.time())
        ttl_seconds = max(1, min(self.issuer.ttl_seconds, remaining))
        token = self._issue(active.identity(await self.name_of(active)), ttl_seconds)
        return TokenResponse(access_token=token, expires_in=ttl_seconds)

    def _issue(self, identity: Identity, ttl_seconds: int) -> str:
        return self.issuer.signing_key.issue(
            subject=identity.subject, organization_id=identity.organization_id,
            roles=sorted(identity.roles), issuer=self.issuer.issuer,
            audience=self.issuer.audience, ttl_seconds=ttl_seconds, kind=PERSON,
            name=identity.name, amr=sorted(identity.amr), session=identity.session,
        )

