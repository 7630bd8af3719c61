from waymark_kernel.messaging.broker import Broker, EventHandler, PublishFailed
from waymark_kernel.messaging.consumer import Consumer, ProcessedEvent
from waymark_kernel.messaging.outbox import OutboxMessage, OutboxRelay, record_event, record_events

__all__ = [
    "Broker", "Consumer", "EventHandler", "OutboxMessage", "OutboxRelay", "ProcessedEvent",
    "PublishFailed", "record_event", "record_events",
]
