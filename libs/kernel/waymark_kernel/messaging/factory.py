from waymark_kernel.messaging.broker import Broker
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.messaging.rabbitmq import RabbitMqBroker
from waymark_kernel.settings import Settings


def broker_from_settings(settings: Settings) -> Broker:
    if settings.is_standalone:
        return InProcessBroker(delivery_limit=settings.delivery_limit)
    return RabbitMqBroker(
        settings.broker_url, settings.event_exchange,
        prefetch=settings.consumer_prefetch, delivery_limit=settings.delivery_limit,
    )
