"""Order service settings (environment variables)."""

from salesync_common.settings import ServiceSettings

SCHEMA = "order"


class Settings(ServiceSettings):
    service_name: str = "order"
    # The read model of the menu, fed by the item service's events.
    menu_items_topic: str = "menu.items"
    menu_items_group: str = "order-menu-items"
    # How old the newest "caught up" confirmation of every menu.items partition may be for the
    # hot path to trust the read model (else it asks the item service). The consumer confirms
    # every 0.25 s, so 1.5 s tolerates a few slow broker round trips without flapping, and it
    # bounds how long a change can go unseen when Kafka fails to about the 1 s visibility target.
    menu_freshness_seconds: float = 1.5
    # The audit trail of orders, relayed from order_events.
    orders_events_topic: str = "orders.events"
