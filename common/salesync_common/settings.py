"""Settings from the environment.

Every service subclasses :class:`ServiceSettings` in its ``config`` package. Development and test
mode get safe local defaults; production mode refuses to start without real secrets. Bad
configuration raises at load time; :func:`configuration_error` turns that into the one-line reason
the entry point prints before it exits.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
MIN_SECRET_LENGTH = 32
DEV_SECRET_PREFIX = "dev-only-"  # noqa: S105 - the marker of the public dev secrets


def require_production_secret(name: str, value: str | None) -> None:
    """A production secret is set, long enough, and not one of the dev secrets below (those are
    derived from this repository: anyone can compute them, whatever their length)."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"{name.upper()} must be set to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters in production"
        )
    if value.startswith(DEV_SECRET_PREFIX):
        raise ValueError(f"{name.upper()} is a development secret: not in production")


def _dev_secret(purpose: str) -> str:
    # Deterministic so that separately started dev processes agree; never used in production.
    return DEV_SECRET_PREFIX + hashlib.sha256(f"salesync-{purpose}-not-secret".encode()).hexdigest()


KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSettings(BaseSettings):
    """Where Kafka is and how every client authenticates to it.

    Read by :func:`salesync_common.kafka.kafka_client_config`, which every producer, consumer and
    admin client is built from. Invariants (enforced here, so a bad deployment stops at start
    instead of failing its first publish): the protocol is one of ``PLAINTEXT``, ``SSL`` and
    ``SASL_SSL``; ``SSL``/``SASL_SSL`` name a CA file that exists (the broker certificate is
    always verified, host name included); ``SASL_SSL`` has a username, a password and a SCRAM
    mechanism; credentials are never given to a protocol that would not use them.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=False)

    # Unset means the in-process event bus (embedded mode only).
    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_ssl_cafile: str | None = None
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None

    @field_validator(
        "kafka_bootstrap_servers",
        "kafka_ssl_cafile",
        "kafka_sasl_username",
        "kafka_sasl_password",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # An empty variable (e.g. an optional Secret key that is absent) means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _kafka_security(self) -> KafkaSettings:
        protocol = self.kafka_security_protocol.strip().upper()
        if protocol not in KAFKA_SECURITY_PROTOCOLS:
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol!r} is not one of "
                + ", ".join(KAFKA_SECURITY_PROTOCOLS)
            )
        self.kafka_security_protocol = protocol
        mechanism = self.kafka_sasl_mechanism.strip().upper()
        if mechanism not in KAFKA_SASL_MECHANISMS:
            raise ValueError(
                f"KAFKA_SASL_MECHANISM={self.kafka_sasl_mechanism!r} is not one of "
                + ", ".join(KAFKA_SASL_MECHANISMS)
            )
        self.kafka_sasl_mechanism = mechanism
        if protocol in ("SSL", "SASL_SSL"):
            if not self.kafka_ssl_cafile:
                raise ValueError(
                    f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SSL_CAFILE "
                    "(the CA bundle that signed the broker certificates)"
                )
            if not Path(self.kafka_ssl_cafile).is_file():
                raise ValueError(f"KAFKA_SSL_CAFILE={self.kafka_ssl_cafile} is not a file")
        has_credentials = self.kafka_sasl_username or self.kafka_sasl_password
        if protocol == "SASL_SSL":
            if not (self.kafka_sasl_username and self.kafka_sasl_password):
                raise ValueError(
                    "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and "
                    "KAFKA_SASL_PASSWORD"
                )
        elif has_credentials:
            raise ValueError(
                f"KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but "
                f"KAFKA_SECURITY_PROTOCOL={protocol} would not send them (use SASL_SSL)"
            )
        return self


def configuration_error(exc: ValidationError) -> str:
    """The one-line reason for a configuration that cannot start (no values, no secrets)."""
    reasons = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] != "value_error" and error["loc"]:
            message = f"{str(error['loc'][0]).upper()}: {message}"
        reasons.append(message)
    return "; ".join(reasons)


class ServiceSettings(KafkaSettings):
    """Configuration shared by every service (each field maps to an UPPER_CASE env variable)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=False)
    # False for a service that keeps no data (the BFF): production then needs no DATABASE_URL.
    uses_database: ClassVar[bool] = True

    service_name: str = "salesync"
    salesync_env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    # Database: PostgreSQL URL (own role per service) or, when unset, a SQLite file per service.
    database_url: str | None = None
    db_pool_size: int = 5
    db_max_overflow: int = 5
    sqlite_dir: str = str(REPO_ROOT / "var" / "embedded")

    # Tokens: the store service issues user tokens; every service verifies them. Empty means
    # unset: production refuses to start, other modes get a per-checkout dev secret (below).
    jwt_secret: str = ""
    jwt_issuer: str = "salesync-store"
    jwt_audience: str = "salesync-pos"
    jwt_ttl_seconds: int = 30 * 24 * 3600
    service_token_secret: str = ""

    # Outbound HTTP to sibling services.
    http_timeout_seconds: float = 5.0
    http_connect_timeout_seconds: float = 1.0
    http_retries: int = 2
    store_service_url: str = "http://127.0.0.1:8101"
    item_service_url: str = "http://127.0.0.1:8102"
    order_service_url: str = "http://127.0.0.1:8103"
    sale_service_url: str = "http://127.0.0.1:8104"
    dashboard_service_url: str = "http://127.0.0.1:8105"
    consulting_service_url: str = "http://127.0.0.1:8106"

    # Background threads (outbox relay, consumers, recovery passes) run inside the app process.
    background_workers: bool = True

    # The edge, wired by the app factory on every service (see README "Topology").
    # Browser origins allowed by CORS: "*" or a comma-separated list.
    cors_origins: str = "*"
    # Proxies in front of the service that append X-Forwarded-For (ALB -> pod: 1; nginx in the
    # distributed stack: 1; make run: 0). The client IP is the entry the outermost of them added.
    trusted_proxy_hops: int = Field(default=1, ge=0, le=5)

    @property
    def is_production(self) -> bool:
        return self.salesync_env == "production"

    @model_validator(mode="after")
    def _secrets_for_mode(self) -> ServiceSettings:
        for name in ("jwt_secret", "service_token_secret"):
            value = getattr(self, name)
            if self.is_production:
                require_production_secret(name, value)
            elif not value:
                setattr(self, name, _dev_secret(name))
        if self.is_production and self.uses_database and not self.database_url:
            raise ValueError("DATABASE_URL is required in production")
        return self

    def service_url(self, service: str) -> str:
        return str(getattr(self, f"{service}_service_url")).rstrip("/")
