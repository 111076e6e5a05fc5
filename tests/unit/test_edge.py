"""The edge every service answers itself: the route table, the factory's CORS and JSON 404/405 on
every service, the client IP behind trusted proxies, declared rate limits, the refusal of
per-process limits in production, and in-process sibling calls that leave the caller's context
alone."""

from __future__ import annotations

import subprocess
import sys

import pytest
from flask import Flask
from pydantic import ValidationError

from devstack.stack import REPO
from salesync_common.routing import Route, route_for, service_for

FRONTEND_ORIGIN = "http://localhost:3000"
PACKAGES = [
    "bff",
    "store_service",
    "item_service",
    "order_service",
    "sale_service",
    "dashboard_service",
    "consulting_service",
]


# ---------------------------------------------------------------------------------------------
# The route table


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/stores/", "store"),
        ("/stores", "store"),
        ("/stores/login", "store"),
        ("/categories/items/3", "item"),
        ("/orders/unpaids/1", "order"),
        ("/sales/", "sale"),
        ("/dashboard/consulting/abc", "dashboard"),
        ("/consulting/test", "consulting"),
        ("/bff/sales", "bff"),
        ("/docs", "bff"),
        ("/openapi.json", "bff"),
        ("/healthz", "bff"),
        ("/storesx", "bff"),  # whole segments only
        ("/", "bff"),
        ("/internal/stores/1", None),
        ("/internal", None),
        ("/metrics", None),
        ("/stores/../internal/stores/1", None),  # matched as an ingress normalises it
        ("//internal/stores/1", None),
        ("/stores/internal", "store"),
    ],
)
def test_every_path_has_one_owner(path: str, service: str | None) -> None:
    assert service_for(path) == service


def test_the_longest_prefix_wins() -> None:
    # The order stream is owned by the order service, served behind an ingress by its own process.
    stream = Route("/orders/stream", "order", stream=True)
    assert route_for("/orders/stream") == stream
    assert stream.upstream == "order-stream"
    assert route_for("/orders/streaming") == Route("/orders", "order")
    assert route_for("/orders/streaming").upstream == "order"  # type: ignore[union-attr]
    assert service_for("/orders/") == "order"


# ---------------------------------------------------------------------------------------------
# The factory on every service: CORS on every path, JSON 404/405


@pytest.fixture(scope="module")
def apps(service_app) -> dict[str, Flask]:
    return {package: service_app(package) for package in PACKAGES}


@pytest.mark.parametrize("package", PACKAGES)
def test_cors_and_json_errors_on_every_service(apps: dict[str, Flask], package: str) -> None:
    client = apps[package].test_client()
    for path in ("/stores/", "/no/such/path", "/orders/unpaids/3", "/internal/stores/1"):
        preflight = client.options(
            path,
            headers={
                "Origin": FRONTEND_ORIGIN,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization,content-type,x-csrf-token",
            },
        )
        assert preflight.status_code == 204, (package, path)
        assert preflight.headers["Access-Control-Allow-Origin"] == "*"
        for method in ("GET", "POST", "PUT", "DELETE"):
            assert method in preflight.headers["Access-Control-Allow-Methods"]
        for header in ("Authorization", "Content-Type", "X-CSRF-Token"):
            assert header in preflight.headers["Access-Control-Allow-Headers"]
    missing = client.get("/no/such/path", headers={"Origin": FRONTEND_ORIGIN})
    assert missing.status_code == 404 and missing.mimetype == "application/json"
    assert missing.json["result"] == "failed" and missing.json["error"]["code"] == "not_found"
    assert missing.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-ID" in missing.headers["Access-Control-Expose-Headers"]
    wrong_method = client.patch("/healthz", headers={"Origin": FRONTEND_ORIGIN})
    assert wrong_method.status_code == 405 and wrong_method.json["result"] == "failed"
    assert wrong_method.headers["Access-Control-Allow-Origin"] == "*"


def test_a_listed_origin_only(service_app) -> None:
    client = service_app("item_service", cors_origins="https://pos.example.org").test_client()
    allowed = client.get("/healthz", headers={"Origin": "https://pos.example.org"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://pos.example.org"
    assert "Origin" in allowed.headers["Vary"]
    other = client.options("/healthz", headers={"Origin": "https://evil.example.org"})
    assert "Access-Control-Allow-Origin" not in other.headers


# ---------------------------------------------------------------------------------------------
# Client IP behind trusted proxies, and the limits that key on it


def _login(client, username: str, forwarded_for: str, peer: str = "10.0.0.9") -> int:
    return client.post(
        "/stores/login",
        json={"username": username, "password": "wrong-password"},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": peer},
    ).status_code


@pytest.mark.parametrize("hops", [1, 2])
def test_the_client_ip_is_the_entry_our_outermost_proxy_added(service_app, hops: int) -> None:
    client = service_app(
        "store_service",
        trusted_proxy_hops=hops,
        login_rate_limit_ip="3/minute",
        login_rate_limit_username="100/minute",
    ).test_client()
    # what the client wrote, then what each of our `hops` proxies appended
    trusted = ["198.51.100.7", "10.0.0.1"][:hops]
    statuses = [
        _login(client, f"user-{i}", ", ".join([f"203.0.113.{i}", *trusted])) for i in range(5)
    ]
    assert statuses == [400, 400, 400, 429, 429]
    other_client = ", ".join(["203.0.113.1", "198.51.100.8", "10.0.0.1"][-hops - 1 :])
    assert _login(client, "user-x", other_client) == 400


def test_no_trusted_hops_means_the_peer_address(service_app) -> None:
    client = service_app(
        "store_service", trusted_proxy_hops=0, login_rate_limit_ip="2/minute"
    ).test_client()
    statuses = [_login(client, f"u{i}", f"203.0.113.{i}", peer="10.9.9.9") for i in range(3)]
    assert statuses == [400, 400, 429]
    assert _login(client, "u9", "203.0.113.1", peer="10.9.9.10") == 400


def test_the_consulting_limit_is_shared_by_its_three_paths(service_app, serve) -> None:
    from devstack.testing import auth_headers, free_port, token_for

    client = service_app(
        "consulting_service",
        consulting_rate_limit="2/hour",
        dashboard_service_url=f"http://127.0.0.1:{free_port()}",
        http_retries=0,
    ).test_client()
    headers = auth_headers(token_for(5150))
    period = "start=2026-01-01&end=2026-01-02"
    statuses = [
        client.get(f"/consulting/?{period}", headers=headers).status_code,
        client.get(f"/consulting/test?{period}", headers=headers).status_code,
        client.post(
            "/consulting/", json={"start": "2026-01-01", "end": "2026-01-02"}, headers=headers
        ).status_code,
        client.get(f"/consulting/?{period}", headers=auth_headers(token_for(5151))).status_code,
    ]
    # the dashboard is down (503) but each ask counts: the third from this store is refused,
    # another store still gets through
    assert statuses == [503, 503, 429, 503]


# ---------------------------------------------------------------------------------------------
# Production refuses per-process limits, in one line


def test_production_refuses_memory_storage() -> None:
    from store_service.config import Settings

    values = {
        "salesync_env": "production",
        "jwt_secret": "j" * 40,
        "service_token_secret": "s" * 40,
        "database_url": "postgresql://store@db/salesync",
        "pin_tag_secret": "p" * 40,
    }
    with pytest.raises(ValidationError, match="RATE_LIMIT_STORAGE_URI"):
        Settings(**values, rate_limit_storage_uri="memory://")
    Settings(**values, rate_limit_storage_uri="rediss://:token@redis.example:6379/0")


def test_serve_says_why_in_one_line() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SALESYNC_ENV": "production",
        "JWT_SECRET": "j" * 40,
        "SERVICE_TOKEN_SECRET": "s" * 40,
        "DATABASE_URL": "postgresql://store@db/salesync",
        "RATE_LIMIT_STORAGE_URI": "memory://",
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [sys.executable, "-m", "salesync_common.serve", "store_service"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "RATE_LIMIT_STORAGE_URI must point at Redis" in lines[0]


# ---------------------------------------------------------------------------------------------
# make run: sibling calls in process


def test_in_process_calls_keep_the_callers_context(service_app) -> None:
    from salesync_common.context import request_id_var, service_var, store_id_var
    from salesync_common.http import ServiceClient, register_in_process

    store = service_app("store_service")
    register_in_process("store", store)
    caller = service_app("item_service")
    with caller.test_request_context("/"):
        request_id_var.set("caller-request-id")
        store_id_var.set(42)
        service_var.set("item")
        runtime = caller.extensions["salesync"]
        client = ServiceClient("store", "inproc://store", runtime.settings, runtime.tokens)
        answer = client.get("/healthz")
        missing = client.get("/internal/stores/999999")
        assert answer.status == 200 and answer.body["service"] == "store"
        assert answer.headers["X-Request-ID"] == "caller-request-id"  # propagated
        assert missing.status == 404  # the service credential was accepted in process
        assert request_id_var.get() == "caller-request-id"
        assert store_id_var.get() == 42
        assert service_var.get() == "item"
