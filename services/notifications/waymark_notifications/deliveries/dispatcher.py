"""The dispatcher: a background task that sends due deliveries, concurrently but bounded.

A delivery is leased while in flight, so replicas never send it twice at once. An event's
deliveries it has room for are leased to it in the transaction that enqueues them and leave
right after that commit, without being looked up again; the others it claims in batches,
woken by that commit, by a finishing send, or once a second (retries coming due, work
enqueued by another replica). Answers are logged in batches by a second task: whatever has
come back while the last batch was being written goes in the next one.
"""

import asyncio
import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta
from functools import partial

from fastapi import FastAPI
from waymark_kernel.clock import as_utc, utcnow
from waymark_kernel.db import Database
from waymark_kernel.settings import Settings
from waymark_kernel.tracing import SpanKind, span
from waymark_kernel.wakeup import wait_until_woken

from waymark_notifications.deliveries import repository, service
from waymark_notifications.deliveries.models import Delivery
from waymark_notifications.deliveries.service import Outgoing, Sent
from waymark_notifications.subscriptions.models import Subscription
from waymark_notifications.subscriptions.repository import Listener
from waymark_notifications.subscriptions.service import secrets_in_use
from waymark_notifications.webhooks.secret_box import SecretBox
from waymark_notifications.webhooks.sender import WebhookSender
from waymark_notifications.webhooks.url_guard import UrlGuard

log = logging.getLogger("waymark.notifications.dispatcher")
LEASE_MARGIN_SECONDS = 5.0  # past the send timeout; a crashed sender's deliveries soon go again
BUSY_RETRY_SECONDS = 0.01
WAKE_BATCH = 8


class Dispatcher:
    def __init__(
        self, settings: Settings, box: SecretBox, guard: UrlGuard, *, concurrency: int = 64,
        per_endpoint: int = 4, poll_seconds: float = 1.0,
    ) -> None:
        self.settings = settings
        self.box = box
        self.guard = guard
        self.concurrency = concurrency
        self.per_endpoint = per_endpoint  # one slow endpoint cannot take every slot
        self.poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()
        self._ready = asyncio.Event()
        self._in_flight: Counter[uuid.UUID] = Counter()
        self._tasks: set[asyncio.Task] = set()
        self._sent: list[Sent] = []  # answered, not yet logged
        self._answered = asyncio.Event()
        self._giving_back: set[asyncio.Task] = set()
        # What held the last pass back: a lack of slots (any finishing send helps), or
        # subscriptions at their limit (only a send to one of them helps).
        self._short_of_slots = False
        self._at_limit: set[uuid.UUID] = set()
        self._database: Database | None = None
        self._sender: WebhookSender | None = None

    def wake(self) -> None:
        self._wakeup.set()

    def _has_room(self, subscription_id: uuid.UUID, taken: int = 0) -> bool:
        return (len(self._tasks) + taken < self.concurrency
                and self._in_flight[subscription_id] < self.per_endpoint)

    def room_for(self, subscription_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """The subscriptions a delivery could go to at once, one each; decided before the
        commit that enqueues them, so `send_leased` looks again."""
        if not self._ready.is_set():
            return set()
        room: set[uuid.UUID] = set()
        for subscription_id in subscription_ids:
            if self._has_room(subscription_id, len(room)):
                room.add(subscription_id)
        return room

    def send_leased(
        self, leased: list[tuple[Outgoing, Listener]], waiting: list[uuid.UUID]
    ) -> None:
        """After the commit: send the deliveries leased to this dispatcher as far as there is
        room now, and give the others' leases back so that they are claimed as usual. Those
        enqueued for the `waiting` subscriptions are claimed by a pass."""
        given_back = []
        for outgoing, subscription in leased:
            if self._ready.is_set() and self._has_room(subscription.id):
                self._start(outgoing, subscription)
            else:
                given_back.append(outgoing.id)
        if given_back:
            task = asyncio.create_task(self._give_back(given_back))
            self._giving_back.add(task)
            task.add_done_callback(self._giving_back.discard)
        elif waiting:
            self._pass_when_room(waiting)

    def _pass_when_room(self, subscription_ids: list[uuid.UUID]) -> None:
        """A pass now if one of these subscriptions has room, else when a send ends that frees
        what holds them back: a pass for a subscription at its limit would find nothing."""
        held = {key for key in subscription_ids if self._in_flight[key] >= self.per_endpoint}
        self._at_limit |= held
        if len(self._tasks) >= self.concurrency:
            self._short_of_slots = True
        elif len(held) < len(subscription_ids):  # one delivery per subscription
            self.wake()

    async def _give_back(self, delivery_ids: list[uuid.UUID]) -> None:
        assert self._database is not None
        try:
            async with self._database.transaction() as session:
                await repository.release(session, delivery_ids, utcnow())
        except Exception:
            log.exception("giving leases back failed; they run out instead")
        self.wake()

    def lease_end(self) -> datetime:
        return utcnow() + timedelta(
            seconds=self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        )

    async def run(self, app: FastAPI) -> None:
        """The background task of the service."""
        if self.settings.webhook_allow_insecure:
            log.warning("webhook_allow_insecure is on: webhooks may go to http, loopback and "
                        "private addresses (development and tests only)")
        self._database = app.state.database
        async with WebhookSender(
            self.guard, timeout_seconds=self.settings.webhook_timeout_seconds
        ) as sender:
            self._sender = sender
            self._ready.set()
            logging_task = asyncio.create_task(self._log_answers())
            try:
                while True:
                    self._wakeup.clear()
                    try:
                        pause = await self._dispatch_due()
                    except Exception:
                        log.exception("dispatcher pass failed")
                        pause = self.poll_seconds
                    await wait_until_woken(self._wakeup, pause)
            finally:
                self._ready.clear()
                running = (*self._tasks, *self._giving_back, logging_task)
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    async def _log_answers(self) -> None:
        """Log every answer that came back, in one transaction per batch. If that fails, the
        leases run out and the deliveries go again, with the same webhook-id."""
        assert self._database is not None
        while True:
            await self._answered.wait()
            self._answered.clear()
            batch, self._sent = self._sent, []
            try:
                async with self._database.transaction() as session:
                    await service.record_attempts(session, batch, self.settings)
            except Exception:
                log.exception("logging delivery attempts failed")
            if not all(item.result.succeeded for item in batch):
                self.wake()  # retries may now be due

    async def _dispatch_due(self) -> float:
        """Start sending what is due; returns how long to wait before looking again."""
        free = self.concurrency - len(self._tasks)
        busy = self._busy_endpoints()
        self._short_of_slots, self._at_limit = free <= 0, busy
        if free <= 0:
            return self.poll_seconds  # a finishing send wakes the loop
        assert self._database is not None
        async with self._database.transaction() as session:
            due = [
                (Outgoing(*delivery), listener) for delivery, listener in await repository.due(
                    session, now=utcnow(), limit=free, per_endpoint=self.per_endpoint, busy=busy,
                )
            ]
            claimed = self._within_endpoint_limits(due)
            if claimed:
                await repository.lease(
                    session, [delivery.id for delivery, _ in claimed], self.lease_end()
                )
        for delivery, listener in claimed:
            self._start(delivery, listener)
        sent_now = {delivery.id for delivery, _ in claimed}
        self._at_limit = self._busy_endpoints() | {
            subscription.id for delivery, subscription in due if delivery.id not in sent_now
        }
        if len(claimed) == free:
            self._short_of_slots = True
            return self.poll_seconds  # every slot taken: a finishing send wakes the loop
        async with self._database.transaction() as session:
            next_due = await repository.next_due_at(session, self._busy_endpoints())
        if next_due is None:
            return self.poll_seconds
        until_due = (as_utc(next_due) - utcnow()).total_seconds()
        floor = 0.0 if claimed else BUSY_RETRY_SECONDS  # due but locked by another replica
        return min(self.poll_seconds, max(floor, until_due))

    def _busy_endpoints(self) -> set[uuid.UUID]:
        return {key for key, count in self._in_flight.items() if count >= self.per_endpoint}

    def _within_endpoint_limits(
        self, claimed: list[tuple[Outgoing, Listener]]
    ) -> list[tuple[Outgoing, Listener]]:
        taken: Counter[uuid.UUID] = Counter()
        kept = []
        for delivery, subscription in claimed:
            if self._in_flight[subscription.id] + taken[subscription.id] < self.per_endpoint:
                taken[subscription.id] += 1
                kept.append((delivery, subscription))
        return kept

    def _start(self, delivery: Outgoing, subscription: Listener | Subscription) -> None:
        self._in_flight[subscription.id] += 1
        task = asyncio.create_task(self._deliver_logged(delivery, subscription))
        self._tasks.add(task)
        task.add_done_callback(partial(self._finished, subscription.id))

    def _finished(self, subscription_id: uuid.UUID, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._in_flight[subscription_id] -= 1
        if self._in_flight[subscription_id] <= 0:
            del self._in_flight[subscription_id]
        # Look again only if this send's end frees what held due work back, and then once a
        # batch of slots is free: fewer, fuller passes.
        if (self._short_of_slots or subscription_id in self._at_limit) and (
            self.concurrency - len(self._tasks) >= WAKE_BATCH or len(self._tasks) < WAKE_BATCH
        ):
            self.wake()

    async def _deliver_logged(
        self, delivery: Outgoing, subscription: Listener | Subscription
    ) -> None:
        try:
            sent = await self._send(delivery, subscription)
        except Exception:
            # The lease runs out and the delivery is tried again.
            log.exception("delivery failed", extra={"delivery_id": str(delivery.id)})
            return
        # Appended after the await: the list is swapped for a new one by each logged batch.
        self._sent.append(sent)
        self._answered.set()

    async def _send(self, delivery: Outgoing, subscription: Listener | Subscription) -> Sent:
        assert self._sender is not None
        attempted_at = utcnow()
        with span(
            "notifications", f"webhook {delivery.event_type}", SpanKind.CLIENT,
            parent=delivery.trace_parent, attributes={
                "http.request.method": "POST", "waymark.delivery_id": str(delivery.id),
                "waymark.subscription_id": str(subscription.id),
                "cloudevents.event_id": str(delivery.event_id),
                "cloudevents.event_type": delivery.event_type,
            },
        ) as traced:
            result = await self._sender.send(
                subscription.url, str(delivery.id), delivery.body,
                secrets_in_use(self.box, subscription, attempted_at), traced.headers,
            )
            if result.status_code is not None:
                traced.set("http.response.status_code", result.status_code)
            if not result.succeeded:
                traced.failed("not delivered")
        return Sent(delivery, result, attempted_at)

    async def deliver_now(self, delivery: Delivery, subscription: Subscription) -> dict | None:
        """Send a delivery the caller has leased, now, and return the logged attempt (None if
        the subscription was deleted meanwhile)."""
        await self._ready.wait()
        assert self._database is not None
        sent = await self._send(Outgoing.of(delivery), subscription)
        async with self._database.transaction() as session:
            logged = await service.record_attempts(session, [sent], self.settings)
        return logged[0] if logged else None
