"""In-process broker for standalone mode, with RabbitMQ's guarantees inside one process.

`publish` is confirmed only when every bound queue has settled the event (its handler
succeeded, or it was dead-lettered), so an event the outbox marks sent has been applied:
a crash before that leaves the outbox row pending and the event is published again.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging.broker import EventHandler, PublishFailed, backoff, topic_matches

log = logging.getLogger("waymark.broker")
CLOSE_GRACE_SECONDS = 2.0


@dataclass
class _Delivery:
    event: CloudEvent
    settled: asyncio.Future[None]
    attempts: int = 0


@dataclass
class _Queue:
    name: str
    routing_keys: list[str]
    handler: EventHandler
    pending: asyncio.Queue[_Delivery] = field(default_factory=asyncio.Queue)
    dead: list[CloudEvent] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None


class InProcessBroker:
    def __init__(
        self, *, delivery_limit: int = 5, retry_delay: float = 0.5, confirm_timeout: float = 30.0,
        concurrency: int = 8,
    ) -> None:
        self.delivery_limit = delivery_limit
        self.retry_delay = retry_delay
        self.confirm_timeout = confirm_timeout
        self.concurrency = concurrency
        self._queues: dict[str, _Queue] = {}
        self._running = False
        self._closed = False
        self._started = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._unsettled: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        self._running, self._closed = True, False
        self._started.set()
        # Consumers survive a restart, as RabbitMQ's robust connection restores them.
        for queue in self._queues.values():
            self._start_worker(queue)

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Stops taking deliveries; those in hand finish, for up to `grace` seconds, as a
        RabbitMQ consumer's do before its channel closes. The rest are not confirmed: their
        publishers keep them in their outboxes and publish them again."""
        self._running, self._closed = False, True
        self._started.clear()
        workers = [q.worker for q in self._queues.values() if q.worker]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if self._deliveries:
            await asyncio.wait(self._deliveries, timeout=grace)
        unfinished = list(self._deliveries)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        for queue in self._queues.values():
            queue.worker = None
            queue.pending = asyncio.Queue()
        for settled in list(self._unsettled):
            settled.cancel()  # its publish raises PublishFailed

    async def ping(self) -> None:
        if not self._running:
            raise ConnectionError("in-process broker stopped")

    async def publish(self, event: CloudEvent) -> None:
        if self._closed:
            raise PublishFailed("in-process broker closed")
        if not self._running:
            # Not started yet: it starts once every consumer is bound, or an event published
            # before that would miss the queues not bound yet.
            try:
                async with asyncio.timeout(self.confirm_timeout):
                    await self._started.wait()
            except TimeoutError as exc:
                raise PublishFailed("in-process broker not started") from exc
        loop = asyncio.get_running_loop()
        deliveries = []
        for queue in self._queues.values():
            if any(topic_matches(key, event.type) for key in queue.routing_keys):
                delivery = _Delivery(event, loop.create_future())
                self._unsettled.add(delivery.settled)
                delivery.settled.add_done_callback(self._unsettled.discard)
                queue.pending.put_nowait(delivery)
                deliveries.append(delivery.settled)
        if not deliveries:
            return
        # asyncio.wait, not a gather: a publish cancelled meanwhile leaves no future behind
        # whose exception nobody retrieves.
        done, pending = await asyncio.wait(deliveries, timeout=self.confirm_timeout)
        if pending:
            raise PublishFailed("consumers did not settle the event in time")
        if any(settled.cancelled() for settled in done):
            raise PublishFailed("in-process broker closed")

    async def consume(self, queue: str, routing_keys: list[str], handler: EventHandler) -> None:
        bound = _Queue(queue, routing_keys, handler)
        self._queues[queue] = bound
        self._start_worker(bound)

    def _start_worker(self, queue: _Queue) -> None:
        if queue.worker is None or queue.worker.done():
            queue.worker = asyncio.create_task(self._work(queue), name=f"consume:{queue.name}")

    async def _work(self, queue: _Queue) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        while True:
            delivery = await queue.pending.get()
            await slots.acquire()
            task = asyncio.create_task(self._deliver(queue, delivery))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _deliver(self, queue: _Queue, delivery: _Delivery) -> None:
        delivery.attempts += 1
        try:
            await queue.handler(delivery.event)
        except Exception:
            log.exception("handler failed", extra={
                "queue": queue.name, "event_id": delivery.event.id, "attempt": delivery.attempts,
            })
            # Like a quorum queue's x-delivery-limit: the limit counts redeliveries.
            if delivery.attempts > self.delivery_limit:
                queue.dead.append(delivery.event)
                self._settle(delivery)
            else:
                await asyncio.sleep(backoff(self.retry_delay, delivery.attempts))
                queue.pending.put_nowait(delivery)
            return
        self._settle(delivery)

    @staticmethod
    def _settle(delivery: _Delivery) -> None:
        if not delivery.settled.done():
            delivery.settled.set_result(None)

    async def dead_letters(self, queue: str) -> list[CloudEvent]:
        bound = self._queues.get(queue)
        if bound is None:
            return []
        drained, bound.dead = bound.dead, []
        return drained
