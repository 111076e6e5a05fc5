"""Order service settings (environment variables)."""

from salesync_common.settings import ServiceSettings

SCHEMA = "order"


class Settings(ServiceSettings):
    service_name: str = "order"
