"""Where sessions live: Redis when the gateway's replicas share one (WAYMARK_REDIS_URL), the
gateway's database otherwise. Either way every replica sees a sign-out at once."""

import json
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import delete, select

from waymark_gateway.sessions.models import StoredSession
from waymark_kernel.clock import as_utc
from waymark_kernel.db import Database

# A session's idle clock is written back at most this often: a write per request is not needed.
TOUCH_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class SessionRecord:
    person_id: uuid.UUID
    organization_id: uuid.UUID
    roles: tuple[str, ...]
    amr: tuple[str, ...]
    csrf_token: str
    created_at: float  # epoch seconds
    expires_at: float  # the absolute end, whatever the activity
    last_seen_at: float

    def as_json(self) -> str:
        return json.dumps({**asdict(self), "person_id": str(self.person_id),
                           "organization_id": str(self.organization_id)})

    @classmethod
    def from_json(cls, text: str | bytes) -> "SessionRecord":
        data = json.loads(text)
        return cls(**{
            **data, "person_id": uuid.UUID(data["person_id"]),
            "organization_id": uuid.UUID(data["organization_id"]),
            "roles": tuple(data["roles"]), "amr": tuple(data["amr"]),
        })

    def is_over(self, now: float, idle_seconds: float) -> bool:
        return now >= self.expires_at or now >= self.last_seen_at + idle_seconds


class SessionStore(Protocol):
    async def save(self, id_hash: str, record: SessionRecord) -> None: ...

    async def load(self, id_hash: str) -> SessionRecord | None:
        """The live session (its idle clock restarted), or None when there is none."""
        ...

    async def delete(self, id_hash: str) -> None: ...

    async def delete_person(self, person_id: uuid.UUID) -> None: ...

    async def set_roles(self, person_id: uuid.UUID, roles: tuple[str, ...]) -> None: ...

    async def close(self) -> None: ...


def _timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class DatabaseSessions:
    def __init__(self, database: Database, *, idle_seconds: float) -> None:
        self.database = database
        self.idle_seconds = idle_seconds

    async def save(self, id_hash: str, record: SessionRecord) -> None:
        async with self.database.transaction() as session:
            session.add(StoredSession(
                id_hash=id_hash, person_id=record.person_id, data=json.loads(record.as_json()),
                last_seen_at=_timestamp(record.last_seen_at),
                expires_at=_timestamp(record.expires_at),
            ))
        await self._forget_ended()

    async def load(self, id_hash: str) -> SessionRecord | None:
        now = time.time()
        async with self.database.transaction() as session:
            stored = await session.get(StoredSession, id_hash)
            if stored is None:
                return None
            record = replace(
                SessionRecord.from_json(json.dumps(stored.data)),
                last_seen_at=as_utc(stored.last_seen_at).timestamp(),
            )
            if record.is_over(now, self.idle_seconds):
                await session.delete(stored)
                return None
            if now - record.last_seen_at > TOUCH_EVERY_SECONDS:
                stored.last_seen_at = _timestamp(now)
            return replace(record, last_seen_at=now)

    async def delete(self, id_hash: str) -> None:
        async with self.database.transaction() as session:
            await session.execute(delete(StoredSession).where(StoredSession.id_hash == id_hash))

    async def delete_person(self, person_id: uuid.UUID) -> None:
        async with self.database.transaction() as session:
            await session.execute(
                delete(StoredSession).where(StoredSession.person_id == person_id)
            )

    async def set_roles(self, person_id: uuid.UUID, roles: tuple[str, ...]) -> None:
        async with self.database.transaction() as session:
            stored = (await session.execute(
                select(StoredSession).where(StoredSession.person_id == person_id)
            )).scalars()
            for row in stored:
                row.data = {**row.data, "roles": list(roles)}

    async def _forget_ended(self) -> None:
        """Sessions past their absolute end are deleted at each sign-in, so none piles up."""
        async with self.database.transaction() as session:
            await session.execute(
                delete(StoredSession).where(StoredSession.expires_at < datetime.now(UTC))
            )

    async def close(self) -> None:
        return None


class RedisSessions:
    """`session:<hash>` holds the record and expires after the idle time (or at the absolute
    end, if sooner): each use renews that expiry, so the key's expiry is the idle clock.
    `person-sessions:<id>` lists a person's sessions for "sign out everywhere"."""

    def __init__(self, url: str, *, prefix: str, idle_seconds: float, timeout: float) -> None:
        self.redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = prefix
        self.idle_seconds = idle_seconds

    def _session_key(self, id_hash: str) -> str:
        return f"{self.prefix}session:{id_hash}"

    def _person_key(self, person_id: uuid.UUID) -> str:
        return f"{self.prefix}person-sessions:{person_id}"

    def _ttl_ms(self, record: SessionRecord, now: float) -> int:
        return max(1, int(min(self.idle_seconds, record.expires_at - now) * 1000))

    async def save(self, id_hash: str, record: SessionRecord) -> None:
        now = time.time()
        person_key = self._person_key(record.person_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._session_key(id_hash), record.as_json(), px=self._ttl_ms(record, now))
            pipe.sadd(person_key, id_hash)
            # The newest session ends last: the list lives as long as it.
            pipe.pexpire(person_key, int((record.expires_at - now) * 1000))
            await pipe.execute()

    async def load(self, id_hash: str) -> SessionRecord | None:
        now = time.time()
        key = self._session_key(id_hash)
        text = await self.redis.get(key)
        if text is None:  # never was, ended, or idle past the key's expiry
            return None
        record = SessionRecord.from_json(text)
        if now >= record.expires_at:
            await self.delete(id_hash)
            return None
        # Only the expiry is renewed, never the record: a role change made meanwhile stands.
        await self.redis.pexpire(key, self._ttl_ms(record, now))
        return replace(record, last_seen_at=now)

    async def delete(self, id_hash: str) -> None:
        await self.redis.delete(self._session_key(id_hash))

    async def delete_person(self, person_id: uuid.UUID) -> None:
        person_key = self._person_key(person_id)
        hashes = await self.redis.smembers(person_key)
        keys = [self._session_key(h.decode() if isinstance(h, bytes) else h) for h in hashes]
        await self.redis.delete(person_key, *keys)

    async def set_roles(self, person_id: uuid.UUID, roles: tuple[str, ...]) -> None:
        for member in await self.redis.smembers(self._person_key(person_id)):
            id_hash = member.decode() if isinstance(member, bytes) else member
            text = await self.redis.get(self._session_key(id_hash))
            if text is not None:  # its idle clock runs on: a role change is not activity
                record = replace(SessionRecord.from_json(text), roles=roles)
                await self.redis.set(self._session_key(id_hash), record.as_json(),
                                     keepttl=True, xx=True)

    async def close(self) -> None:
        await self.redis.aclose()
