"""Item service settings (environment variables)."""

from salesync_common.settings import ServiceSettings

SCHEMA = "item"


class Settings(ServiceSettings):
    service_name: str = "item"
    # Where menu.items events go (the outbox rows name the logical topic; the relay maps it).
    menu_items_topic: str = "menu.items"
