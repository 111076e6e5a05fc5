"""Item service settings (environment variables)."""

from salesync_common.settings import ServiceSettings

SCHEMA = "item"


class Settings(ServiceSettings):
    service_name: str = "item"
