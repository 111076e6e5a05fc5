"""Production settings: what each image refuses to start without (found by running the images)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bff.config import Settings as BffSettings
from store_service.config import Settings as StoreSettings

SECRETS = {"jwt_secret": "j" * 40, "service_token_secret": "s" * 40}


def test_the_bff_keeps_no_data_and_starts_in_production_without_a_database() -> None:
    settings = BffSettings(salesync_env="production", **SECRETS)
    assert settings.is_production and settings.database_url is None


def test_a_service_with_a_schema_refuses_production_without_a_database() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL is required in production"):
        StoreSettings(salesync_env="production", **SECRETS)
    ok = StoreSettings(
        salesync_env="production",
        database_url="postgresql://x@h/db",
        rate_limit_storage_uri="rediss://:token@redis.example:6379/0",
        pin_tag_secret="p" * 40,
        **SECRETS,
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
