"""Declared rate limits (``salesync_common.ratelimit``) on a small app built by the shared factory.

What the services' own tests already prove is not repeated here: the client IP taken from our
trusted hops, and the consulting limit shared by three paths (``tests/unit/test_edge.py``), the
login limits (``store_service/tests/test_stores.py``). Here: the keys (per IP, per store from a
valid token, per IP without one), which limits are separate counts and which one, the
``Retry-After`` answer, the switch that turns limits off, and the factory's refusals.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Blueprint, Flask, request

from salesync_common.api import endpoint
from salesync_common.app import create_service_app
from salesync_common.auth import issue_access_token
from salesync_common.ratelimit import (
    RateLimitSettings,
    declared_limits,
    rate_limit,
    store_or_ip_key,
)
from salesync_common.settings import ServiceSettings

SECRETS = {"jwt_secret": "j" * 40, "service_token_secret": "s" * 40}


class LimitedSettings(RateLimitSettings):
    per_ip_limit: str = "2/minute"
    per_store_limit: str = "2/minute"
    per_name_limit: str = "2/minute"


def name_key() -> str:
    return f"name:{request.args.get('name', '')}"


def limited_blueprint() -> Blueprint:
    bp = Blueprint("limited", __name__)

    @bp.get("/by-ip")
    @rate_limit("per_ip_limit")
    @endpoint("Per IP", auth=None)
    def by_ip() -> dict[str, Any]:
        return {"ok": True}

    @bp.get("/by-store")
    @rate_limit("per_store_limit", key=store_or_ip_key)
    @endpoint("Per store", auth=None)
    def by_store() -> dict[str, Any]:
        return {"ok": True}

    @bp.get("/by-ip-and-name")
    @rate_limit("per_ip_limit")
    @rate_limit("per_name_limit", key=name_key)
    @endpoint("Per IP and per name", auth=None)
    def by_ip_and_name() -> dict[str, Any]:
        return {"ok": True}

    return bp


def make_app(**overrides: Any) -> tuple[Flask, LimitedSettings]:
    settings = LimitedSettings(
        salesync_env="test", log_level="WARNING", trusted_proxy_hops=0, **SECRETS, **overrides
    )
    return create_service_app("limited", settings, title="t", blueprints=[limited_blueprint()]), (
        settings
    )


def statuses(client: Any, path: str, count: int, ip: str = "10.0.0.1", **kwargs: Any) -> list[int]:
    return [
        client.get(path, environ_base={"REMOTE_ADDR": ip}, **kwargs).status_code
        for _ in range(count)
    ]


def test_a_limit_counts_per_client_ip_by_default() -> None:
    client = make_app()[0].test_client()
    assert statuses(client, "/by-ip", 3) == [200, 200, 429]
    assert statuses(client, "/by-ip", 1, ip="10.0.0.2") == [200]
    refused = client.get("/by-ip", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert refused.json["result"] == "failed" and refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0


def test_the_store_key_counts_per_store_and_per_ip_without_a_valid_token() -> None:
    app, settings = make_app()
    client = app.test_client()

    def bearer(store_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_access_token(settings, store_id)}"}

    # one address, two stores: two counts
    assert statuses(client, "/by-store", 3, headers=bearer(1)) == [200, 200, 429]
    assert statuses(client, "/by-store", 2, headers=bearer(2)) == [200, 200]
    # another address does not reset a store's count (the key is the store, not the IP)
    assert statuses(client, "/by-store", 1, ip="10.0.0.9", headers=bearer(1)) == [429]
    # no token, or a forged one: counted per address
    forged = {"Authorization": "Bearer not-a-jwt"}
    assert statuses(client, "/by-store", 2, ip="10.0.0.3") == [200, 200]
    assert statuses(client, "/by-store", 1, ip="10.0.0.3", headers=forged) == [429]
    assert statuses(client, "/by-store", 1, ip="10.0.0.4", headers=forged) == [200]


def test_stacked_limits_are_separate_counts_and_each_applies() -> None:
    client = make_app(per_ip_limit="3/minute")[0].test_client()
    # the per-name count stops "a" after two, whatever the address
    assert statuses(client, "/by-ip-and-name?name=a", 3, ip="10.0.0.5") == [200, 200, 429]
    assert statuses(client, "/by-ip-and-name?name=a", 1, ip="10.0.0.6") == [429]
    # the per-IP count of this view is its own (not /by-ip's) and stops the address after three
    assert statuses(client, "/by-ip", 1, ip="10.0.0.5") == [200]
    assert statuses(client, "/by-ip-and-name?name=b", 2, ip="10.0.0.5") == [200, 429]


def test_limits_can_be_switched_off() -> None:
    client = make_app(rate_limits_enabled=False)[0].test_client()
    assert statuses(client, "/by-ip", 5) == [200] * 5


def test_an_app_without_limits_gets_no_limiter() -> None:
    bp = Blueprint("free", __name__)

    @bp.get("/free")
    @endpoint("Free", auth=None)
    def free() -> dict[str, Any]:
        return {"ok": True}

    settings = ServiceSettings(salesync_env="test", log_level="WARNING", **SECRETS)
    app = create_service_app("free", settings, title="t", blueprints=[bp])
    assert declared_limits(app) == {}
    assert "salesync_limiter" not in app.extensions


def test_the_factory_refuses_limits_it_cannot_apply() -> None:
    plain = ServiceSettings(salesync_env="test", log_level="WARNING", **SECRETS)
    with pytest.raises(TypeError, match="must extend RateLimitSettings"):
        create_service_app("limited", plain, title="t", blueprints=[limited_blueprint()])

    bp = Blueprint("typo", __name__)

    @bp.get("/typo")
    @rate_limit("no_such_limit")
    @endpoint("Typo", auth=None)
    def typo() -> dict[str, Any]:
        return {"ok": True}

    settings = LimitedSettings(salesync_env="test", log_level="WARNING", **SECRETS)
    with pytest.raises(AttributeError, match="no_such_limit"):
        create_service_app("typo", settings, title="t", blueprints=[bp])
