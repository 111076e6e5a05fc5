"""Production settings: what each image refuses to start without (found by running the images)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bff.config import Settings as BffSettings
from salesync_common.settings import ServiceSettings, configuration_error
from store_service.config import Settings as StoreSettings

SECRETS = {"jwt_secret": "j" * 40, "service_token_secret": "s" * 40}
# What the store needs besides: the PIN tag key and shared rate-limit storage.
STORE_EXTRAS = {"pin_tag_secret": "t" * 40, "rate_limit_storage_uri": "rediss://:x@redis:6379/0"}


def test_the_bff_keeps_no_data_and_starts_in_production_without_a_database() -> None:
    settings = BffSettings(salesync_env="production", **SECRETS)
    assert settings.is_production and settings.database_url is None


def test_a_service_with_a_schema_refuses_production_without_a_database() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL is required in production"):
        StoreSettings(salesync_env="production", **SECRETS, **STORE_EXTRAS)
    ok = StoreSettings(
        salesync_env="production", database_url="postgresql://x@h/db", **SECRETS, **STORE_EXTRAS
    )
    assert ok.database_url


@pytest.mark.parametrize("settings_class", [BffSettings, StoreSettings])
def test_production_refuses_short_or_missing_secrets(settings_class: type) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be set"):
        settings_class(
            salesync_env="production",
            jwt_secret="short",
            service_token_secret="s" * 40,
            database_url="postgresql://x@h/db",
        )


# ---------------------------------------------------------------------------------------------
# ServiceSettings itself: the modes' secrets and parsing from the environment


@pytest.fixture(autouse=True)
def _no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SALESYNC_ENV", "JWT_SECRET", "SERVICE_TOKEN_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as failure:
        ServiceSettings(**values)  # type: ignore[arg-type]
    return configuration_error(failure.value)


def test_development_gets_stable_dev_secrets_and_keeps_given_ones() -> None:
    first, second = ServiceSettings(), ServiceSettings(salesync_env="test")
    # separately started dev processes must agree on them (tokens cross services)
    assert first.jwt_secret == second.jwt_secret and first.jwt_secret.startswith("dev-only-")
    assert first.service_token_secret.startswith("dev-only-")
    assert first.jwt_secret != first.service_token_secret  # one secret per purpose
    given = ServiceSettings(jwt_secret="mine")
    assert given.jwt_secret == "mine"


def test_production_refuses_a_missing_service_secret() -> None:
    line = _refusal(
        salesync_env="production", jwt_secret="j" * 40, database_url="postgresql://x@h/db"
    )
    assert line.startswith("SERVICE_TOKEN_SECRET must be set")


def test_production_refuses_the_published_dev_secrets() -> None:
    dev = ServiceSettings()  # what every checkout derives: public, whatever its length
    for name in ("jwt_secret", "service_token_secret"):
        values = {**SECRETS, name: getattr(dev, name)}
        line = _refusal(salesync_env="production", database_url="postgresql://x@h/db", **values)
        assert name.upper() in line and "dev-only" not in line
    dev_tag = StoreSettings().pin_tag_secret
    with pytest.raises(ValidationError, match="PIN_TAG_SECRET is a development secret"):
        StoreSettings(
            salesync_env="production",
            database_url="postgresql://x@h/db",
            **SECRETS,
            **{**STORE_EXTRAS, "pin_tag_secret": dev_tag},
        )


def test_the_environment_is_parsed_and_foreign_variables_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = {
        "SALESYNC_ENV": "production",
        "JWT_SECRET": "j" * 40,
        "SERVICE_TOKEN_SECRET": "s" * 40,
        "DATABASE_URL": "postgresql://x@h/db",
        "DB_POOL_SIZE": "7",
        "BACKGROUND_WORKERS": "false",
        "TRUSTED_PROXY_HOPS": "2",
        "HTTP_TIMEOUT_SECONDS": "2.5",
        "ITEM_SERVICE_URL": "http://item.internal:8080/",
        "SOMETHING_ELSE": "ignored",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = ServiceSettings()
    assert settings.is_production and settings.database_url == "postgresql://x@h/db"
    assert (settings.db_pool_size, settings.background_workers) == (7, False)
    assert (settings.trusted_proxy_hops, settings.http_timeout_seconds) == (2, 2.5)
    assert settings.service_url("item") == "http://item.internal:8080"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"salesync_env": "staging"}, "SALESYNC_ENV: Input should be"),
        ({"trusted_proxy_hops": 6}, "TRUSTED_PROXY_HOPS: Input should be less than or equal to 5"),
        ({"trusted_proxy_hops": -1}, "TRUSTED_PROXY_HOPS: Input should be greater than"),
        ({"db_pool_size": "many"}, "DB_POOL_SIZE: Input should be a valid integer"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    values: dict[str, object], reason: str
) -> None:
    line = _refusal(**values)
    assert line.startswith(reason) and "\n" not in line


def test_the_reason_never_quotes_a_secret() -> None:
    line = _refusal(
        salesync_env="production",
        jwt_secret="short-but-secret",
        service_token_secret="s" * 40,
        database_url="postgresql://x@h/db",
    )
    assert "JWT_SECRET" in line and "short-but-secret" not in line
