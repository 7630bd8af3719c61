"""Erasing a deleted person's names from the referrals service's records.

The deletion stores a pending erasure with the tombstone; the gateway then asks the referrals
service (over HTTP in distributed mode, in-process in standalone: the same upstream it proxies
to) with a short-lived network-admin token of its own, and keeps asking, backing off, until it
answers. Replicas claim an attempt by counting it, so two never ask at once; a repeat is
harmless, since the referrals service answers the same pseudonym again."""

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from waymark_gateway.identity.service import Issuer
from waymark_gateway.people import repository
from waymark_gateway.proxy.upstreams import Upstreams
from waymark_kernel.auth import NETWORK_ADMIN
from waymark_kernel.db import Database
from waymark_kernel.logging import request_id_var
from waymark_kernel.problems import Problem

log = logging.getLogger("waymark.gateway.erasure")
TOKEN_SECONDS = 60
GATEWAY_SUBJECT = "gateway"
MAX_BACKOFF_SECONDS = 3600.0
BATCH = 20


@dataclass
class Erasures:
    database: Database
    upstreams: Upstreams
    issuer: Issuer
    retry_seconds: float

    def _backoff(self, attempt: int) -> timedelta:
        return timedelta(seconds=min(self.retry_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))

    async def _pseudonym_from_referrals(self, person_id: uuid.UUID) -> str | None:
        """The pseudonym the referrals service gave her records; None when it did not answer."""
        token = self.issuer.signing_key.issue(
            subject=GATEWAY_SUBJECT, organization_id=None, roles=[NETWORK_ADMIN],
            issuer=self.issuer.issuer, audience=self.issuer.audience, ttl_seconds=TOKEN_SECONDS,
        )
        headers = [(b"accept", b"application/json"),
                   (b"authorization", f"Bearer {token}".encode("ascii"))]
        if request_id := request_id_var.get():
            headers.append((b"x-request-id", request_id.encode("latin-1")))
        path = f"/internal/people/{person_id}/erasure".encode()
        try:
            response = await self.upstreams.request("referrals", "POST", path, b"", headers, b"")
        except Problem as exc:
            log.warning("erasure postponed", extra={"person_id": str(person_id), "error": exc.detail})
            return None
        if response.status != 200:
            log.warning("erasure refused", extra={"person_id": str(person_id),
                                                 "status": response.status})
            return None
        try:
            return str(json.loads(response.body)["pseudonym"])
        except (ValueError, KeyError, TypeError):
            log.warning("erasure answered no pseudonym", extra={"person_id": str(person_id)})
            return None

    async def attempt(self, person_id: uuid.UUID, seen_attempts: int) -> bool:
        """One try, when no other replica claimed it: True once her names are erased."""
        now = datetime.now(UTC)
        async with self.database.transaction() as session:
            claimed = await repository.claim_erasure(
                session, person_id, seen_attempts, now, now + self._backoff(seen_attempts + 1)
            )
        if not claimed:
            return False
        pseudonym = await self._pseudonym_from_referrals(person_id)
        if pseudonym is None:
            return False
        async with self.database.transaction() as session:
            await repository.finish_erasure(session, person_id, pseudonym)
        return True

    async def run_due(self) -> int:
        """Tries every erasure that is due; how many were done."""
        async with self.database.transaction() as session:
            due = await repository.due_erasures(session, datetime.now(UTC), BATCH)
        done = 0
        for pending in due:
            done += await self.attempt(pending.person_id, pending.attempts)
        return done

    async def keep_trying(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception as exc:  # the next round tries again
                log.warning("pending erasures not tried", extra={"error": repr(exc)})
            await asyncio.sleep(self.retry_seconds)
