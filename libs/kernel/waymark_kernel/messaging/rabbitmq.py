"""RabbitMQ broker on aio-pika: robust connection, publisher confirms, quorum queues."""

import asyncio
import contextlib
import logging

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging.broker import EventHandler, PublishFailed, backoff

log = logging.getLogger("waymark.broker")
CLOSE_GRACE_SECONDS = 2.0


class RabbitMqBroker:
    def __init__(
        self, url: str, exchange: str, *, prefetch: int = 32, delivery_limit: int = 5,
        publish_timeout: float = 10.0, reconnect_interval: float = 1.0, retry_delay: float = 0.5,
    ) -> None:
        self.url = url
        self.exchange_name = exchange
        self.dead_letter_exchange_name = f"{exchange}.dlx"
        self.prefetch = prefetch
        self.delivery_limit = delivery_limit
        self.publish_timeout = publish_timeout
        self.reconnect_interval = reconnect_interval
        self.retry_delay = retry_delay
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._consumer_channels: list[AbstractRobustChannel] = []
        self._consumers: list[tuple[aio_pika.abc.AbstractQueue, str]] = []
        self._handling = 0  # messages whose handler is running
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self.url, reconnect_interval=self.reconnect_interval,
            client_properties={"connection_name": f"waymark:{self.exchange_name}"},
        )
        self._publish_channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._declare_exchanges(self._publish_channel)

    async def _declare_exchanges(self, channel: AbstractRobustChannel) -> aio_pika.abc.AbstractExchange:
        await channel.declare_exchange(
            self.dead_letter_exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        return await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Stops consuming; the handlers running finish, for up to `grace` seconds, and settle
        their messages; RabbitMQ gives every unsettled one to another consumer or the next."""
        if self._connection is None:
            return
        consumers, self._consumers = self._consumers, []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                for queue, tag in consumers:
                    with contextlib.suppress(aio_pika.exceptions.AMQPError, RuntimeError):
                        await queue.cancel(tag)
                await self._idle.wait()
        connection, self._connection = self._connection, None
        await connection.close()

    async def ping(self) -> None:
        # A robust connection stays open while it reconnects; `connected` is the real state.
        if self._connection is None or not self._connection.connected.is_set():
            raise ConnectionError("not connected to RabbitMQ")

    async def publish(self, event: CloudEvent) -> None:
        if self._exchange is None:
            raise PublishFailed("broker not started")
        message = aio_pika.Message(
            event.to_bytes(),
            message_id=event.id,
            type=event.type,
            content_type="application/cloudevents+json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            # With publisher confirms on, this returns once the broker has confirmed. An event
            # no queue is bound to is dropped (not returned), as in the in-process broker.
            await asyncio.wait_for(
                self._exchange.publish(message, routing_key=event.type, mandatory=False),
                timeout=self.publish_timeout,
            )
        except Exception as exc:
            raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc

    def _started(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("start() first")
        return self._connection

    async def consume(self, queue: str, routing_keys: list[str], handler: EventHandler) -> None:
        channel = await self._started().channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        exchange = await self._declare_exchanges(channel)
        dead_letter_queue = await channel.declare_queue(
            f"{queue}.dead", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead_letter_queue.bind(self.dead_letter_exchange_name, routing_key=queue)
        work_queue = await channel.declare_queue(queue, durable=True, arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dead_letter_exchange_name,
            "x-dead-letter-routing-key": queue,
        })
        for key in routing_keys:
            await work_queue.bind(exchange, routing_key=key)

        async def on_message(message: AbstractIncomingMessage) -> None:
            self._handling += 1
            self._idle.clear()
            try:
                await self._settle(queue, handler, message)
            finally:
                self._handling -= 1
                if not self._handling:
                    self._idle.set()

        tag = await work_queue.consume(on_message)
        self._consumers.append((work_queue, tag))
        self._consumer_channels.append(channel)

    async def _settle(
        self, queue: str, handler: EventHandler, message: AbstractIncomingMessage
    ) -> None:
        try:
            event = CloudEvent.from_bytes(message.body)
        except ValueError:
            log.error("unreadable message dead-lettered", extra={"queue": queue})
            await message.reject(requeue=False)
            return
        try:
            await handler(event)
        except Exception:
            count = (message.headers or {}).get("x-delivery-count", 0)
            attempt = (int(count) if isinstance(count, int | str) else 0) + 1
            log.exception("handler failed; message requeued", extra={
                "queue": queue, "event_id": event.id, "event_type": event.type,
                "attempt": attempt,
            })
            # The quorum queue redelivers at once, counts the deliveries and dead-letters
            # past the limit: waiting first keeps a brief outage from using up the limit.
            await asyncio.sleep(backoff(self.retry_delay, attempt))
            await message.nack(requeue=True)
            return
        await message.ack()

    async def dead_letters(self, queue: str) -> list[CloudEvent]:
        connection = self._started()
        events = []
        async with connection.channel() as channel:
            dead = await channel.declare_queue(
                f"{queue}.dead", durable=True, arguments={"x-queue-type": "quorum"}
            )
            while (message := await dead.get(fail=False, no_ack=False)) is not None:
                try:
                    events.append(CloudEvent.from_bytes(message.body))
                except ValueError:
                    # Not an event at all (the consumer dead-lettered it unread): drop it.
                    log.error("unreadable dead letter dropped", extra={
                        "queue": queue, "size": len(message.body),
                    })
                await message.ack()
        return events
