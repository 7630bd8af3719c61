"""Idempotency-Key, one way for the whole network: a POST sent again with the same key (per
organisation, for 24 hours) and the same request answers what the first one answered, marked
`Idempotent-Replayed: true`; the same key with another request is 422, and while the request
first sent with it is still running 409.

The header is read at the edge (`IdempotencyKeyDep`) and `answer_once` runs the steps around
the service call, which takes domain arguments only. Each service keeps its keys and first
answers in a table of its own (an `AnswerStore`), sealed where they hold personal data."""

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Header, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.clock import utcnow
from waymark_kernel.problems import Conflict, Problem

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"

Answer = TypeVar("Answer")


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key for one request, within its organisation."""

    organization_id: uuid.UUID
    key: str


def _idempotency_key(
    identity: CurrentIdentity,
    idempotency_key: Annotated[str | None, Header(
        min_length=1, max_length=MAX_KEY_LENGTH, description="Kept 24 hours, per organisation."
    )] = None,
) -> IdempotencyKey | None:
    """None without the header, and for a caller outside any organisation: keys are an
    organisation's."""
    if idempotency_key is None or identity.organization_id is None:
        return None
    return IdempotencyKey(identity.organization_id, idempotency_key)


IdempotencyKeyDep = Annotated[IdempotencyKey | None, Depends(_idempotency_key)]


@dataclass(frozen=True)
class Remembered(Generic[Answer]):
    """A request first sent with a key: the fingerprint of what it asked, and how its answer is
    given again."""

    fingerprint: str
    replay: Callable[[], Awaitable[Answer]]


class AnswerStore(Protocol[Answer]):
    """Where a service keeps the requests sent with a key and their first answers."""

    async def recall(
        self, session: AsyncSession, key: IdempotencyKey, *, expired_before: datetime
    ) -> Remembered[Answer] | None:
        """The request first sent with this key; an expired one is forgotten first."""
        ...

    async def remember(
        self, session: AsyncSession, key: IdempotencyKey, fingerprint: str, answer: Answer,
        now: datetime,
    ) -> None:
        ...


def fingerprint(request: Mapping[str, Any]) -> str:
    """The SHA-256 of a request's canonical JSON (keys sorted)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def advisory_lock_of(key: IdempotencyKey) -> int:
    digest = hashlib.sha256(f"idempotency/{key.organization_id}/{key.key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _hold(session: AsyncSession, key: IdempotencyKey) -> None:
    """409 while another transaction works under the same key (a PostgreSQL advisory lock, held
    until this transaction ends); SQLite runs one writing transaction at a time by itself."""
    if session.bind.dialect.name != "postgresql":
        return
    held = await session.execute(select(func.pg_try_advisory_xact_lock(advisory_lock_of(key))))
    if not held.scalar_one():
        raise Conflict(
            "A request with this Idempotency-Key is still in progress; retry in a moment.",
            kind="idempotency-key-in-use",
        )


async def answer_once(
    session: AsyncSession, key: IdempotencyKey | None, request: Mapping[str, Any],
    act: Callable[[], Awaitable[Answer]], store: AnswerStore[Answer],
) -> tuple[Answer, bool]:
    """`act`'s answer and False; or, for a key first sent with the same `request` (what the
    call asks, its path's ids included), the first answer given again and True."""
    if key is None:
        return await act(), False
    await _hold(session, key)
    now = utcnow()
    asked = fingerprint(request)
    remembered = await store.recall(session, key, expired_before=now - IDEMPOTENCY_WINDOW)
    if remembered is not None:
        if remembered.fingerprint != asked:
            raise Problem(
                422, "This Idempotency-Key was used with a different request body; use a new key.",
                kind="idempotency-key-reused",
            )
        return await remembered.replay(), True
    answer = await act()
    await store.remember(session, key, asked, answer, now)
    return answer, False


def mark_replayed(response: Response, replayed: bool) -> None:
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
