"""Store service settings (environment variables; see README "Configuration")."""

from pydantic import model_validator

from salesync_common.ratelimit import RateLimitSettings
from salesync_common.settings import _dev_secret, require_production_secret

SCHEMA = "store"


class Settings(RateLimitSettings):
    service_name: str = "store"
    login_rate_limit_ip: str = "30/minute"
    login_rate_limit_username: str = "10/minute"
    signup_rate_limit_ip: str = "20/hour"
    # Staff PINs: the key of their lookup tags (see services.pin_tag), and the lockout rule, a
    # security rule kept in the database that RATE_LIMITS_ENABLED does not switch off.
    pin_tag_secret: str | None = None
    pin_max_attempts: int = 5
    pin_lockout_seconds: int = 15 * 60

    @model_validator(mode="after")
    def _pin_tag_secret(self) -> "Settings":
        if self.is_production:
            require_production_secret("pin_tag_secret", self.pin_tag_secret)
        elif not self.pin_tag_secret:
            self.pin_tag_secret = _dev_secret("pin_tag_secret")
        if self.pin_max_attempts < 1 or self.pin_lockout_seconds < 1:
            raise ValueError("PIN_MAX_ATTEMPTS and PIN_LOCKOUT_SECONDS must be positive")
        return self
