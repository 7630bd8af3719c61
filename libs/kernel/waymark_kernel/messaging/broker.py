"""The broker interface; RabbitMQ in distributed mode, in-process in standalone mode.

Both keep the same guarantees: `publish` returns only once the broker has taken
responsibility for the event (a publisher confirm), a consumer's message is settled only
after its handler succeeded, a failing message is redelivered up to the delivery limit and
then dead-lettered (so its handler runs at most delivery_limit + 1 times, as with RabbitMQ
quorum queues' x-delivery-limit).
"""

from collections.abc import Awaitable, Callable
from typing import Protocol

from waymark_kernel.events import CloudEvent

EventHandler = Callable[[CloudEvent], Awaitable[None]]


class PublishFailed(Exception):
    """The broker did not confirm the event; the outbox keeps it and tries again."""


class Broker(Protocol):
    async def start(self) -> None: ...

    async def close(self, grace: float = ...) -> None:
        """Stop consuming: handlers running finish for up to `grace` seconds; the rest of the
        messages are not settled, so they are delivered again after a restart."""
        ...

    async def ping(self) -> None: ...

    async def publish(self, event: CloudEvent) -> None: ...

    async def consume(self, queue: str, routing_keys: list[str], handler: EventHandler) -> None:
        """Bind `queue` to `routing_keys` (topic patterns) and hand each event to `handler`."""
        ...

    async def dead_letters(self, queue: str) -> list[CloudEvent]:
        """Drain what was dead-lettered from `queue` (for operators and tests)."""
        ...


def backoff(base: float, attempt: int, ceiling: float = 30.0) -> float:
    """Wait before redelivering after failed `attempt` (1, 2, ...): base, 2 x base, 4 x base..."""
    return min(base * 2.0 ** (attempt - 1), ceiling)


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic semantics: `*` is exactly one word, `#` is zero or more words."""
    words, parts = routing_key.split("."), pattern.split(".")

    def match(p: int, w: int) -> bool:
        if p == len(parts):
            return w == len(words)
        if parts[p] == "#":
            return any(match(p + 1, k) for k in range(w, len(words) + 1))
        return w < len(words) and parts[p] in ("*", words[w]) and match(p + 1, w + 1)

    return match(0, 0)
