from waymark_kernel.messaging.broker import Broker, EventHandler, PublishFailed
from waymark_kernel.messaging.consumer import Consumer, ProcessedEvent
from waymark_kernel.messaging.outbox import (
    OutboxMessage,
    OutboxRelay,
    outbox_rows,
    record_event,
    record_events,
    record_outbox_rows,
)

__all__ = [
    "Broker", "Consumer", "EventHandler", "OutboxMessage", "OutboxRelay", "ProcessedEvent",
    "PublishFailed", "outbox_rows", "record_event", "record_events", "record_outbox_rows",
]
