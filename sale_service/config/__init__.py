"""Sale service settings (environment variables)."""

from salesync_common.settings import ServiceSettings

SCHEMA = "sale"


class Settings(ServiceSettings):
    service_name: str = "sale"
    # The order service's events: the consumer that repairs interrupted payments.
    orders_events_topic: str = "orders.events"
    orders_events_group: str = "sale-order-events"
