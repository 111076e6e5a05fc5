"""BFF (public gateway) settings."""

from salesync_common.settings import ServiceSettings

SCHEMA = None  # the gateway keeps no data


class Settings(ServiceSettings):
    uses_database = False
    service_name: str = "bff"
    http_timeout_seconds: float = 10.0
    cors_origins: str = "*"
    rate_limit_storage_uri: str = "memory://"
    rate_limits_enabled: bool = True
    login_rate_limit: str = "30/minute"
    signup_rate_limit: str = "20/hour"
    consulting_rate_limit: str = "30/hour"
    settlement_rate_limit: str = "10/minute"
    openapi_cache_seconds: float = 300.0
