"""A consumer process that dies (SIGKILL) inside its handler, before the effect commits and
before the message is acked. Arguments: database URL, broker URL, exchange, queue prefix,
consumer name. Prints `subscribed` once its queue is bound."""

import asyncio
import os
import signal
import sys
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.db import Database
from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging import Consumer
from waymark_kernel.messaging.rabbitmq import RabbitMqBroker


async def main(
    database_url: str, broker_url: str, exchange: str, queue_prefix: str, name: str
) -> None:
    database = Database(database_url)
    broker = RabbitMqBroker(broker_url, exchange)
    await broker.start()

    async def apply_then_die(session: AsyncSession, event: CloudEvent) -> None:
        await session.execute(
            sa.text("INSERT INTO kernel_test_effects (event_id, n) VALUES (:event_id, :n)"),
            {"event_id": uuid.UUID(event.id), "n": event.data["version"]},
        )
        await session.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    consumer = Consumer(name, database, {"referral.accepted": apply_then_die})
    await consumer.subscribe(broker, queue_prefix)
    print("subscribed", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
