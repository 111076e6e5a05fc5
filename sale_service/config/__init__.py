"""Sale service settings (environment variables)."""

from salesync_common.settings import ServiceSettings

SCHEMA = "sale"


class Settings(ServiceSettings):
    service_name: str = "sale"
    # Recovery pass for payments interrupted between "order paid" and "sale completed".
    recovery_interval_seconds: float = 30.0
    recovery_min_age_seconds: float = 60.0
