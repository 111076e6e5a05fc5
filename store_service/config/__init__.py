"""Store service settings (environment variables; see README "Configuration")."""

from salesync_common.settings import ServiceSettings

SCHEMA = "store"


class Settings(ServiceSettings):
    service_name: str = "store"
    rate_limit_storage_uri: str = "memory://"
    rate_limits_enabled: bool = True
    login_rate_limit_ip: str = "30/minute"
    login_rate_limit_username: str = "10/minute"
    signup_rate_limit_ip: str = "20/hour"
