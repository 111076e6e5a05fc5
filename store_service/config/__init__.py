"""Store service settings (environment variables; see README "Configuration")."""

from salesync_common.ratelimit import RateLimitSettings

SCHEMA = "store"


class Settings(RateLimitSettings):
    service_name: str = "store"
    login_rate_limit_ip: str = "30/minute"
    login_rate_limit_username: str = "10/minute"
    signup_rate_limit_ip: str = "20/hour"
