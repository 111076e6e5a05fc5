"""Pytest fixtures shared by every test suite (loaded from the root ``conftest.py``).

- ``pg``: the real local PostgreSQL (started if needed) and a fresh database for this test run,
  provisioned with one role and schema per service. In CI a PostgreSQL that cannot start fails.
- ``service_app(package)``: a service's Flask app on that database, migrated, with test settings.
- ``serve(app)``: runs an app on a real HTTP port in a thread (for calls between services).
- ``count_queries(db)``: counts SQL statements (N+1 checks).
- ``kafka_broker``: the devstack Kafka broker's SASL_SSL bootstrap address (started if needed and
  then stopped at the end; a broker that cannot start fails the run, never skips it). Clients
  connect with ``devstack.kafka.client_config(user)`` / ``client_settings(user)``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from werkzeug.serving import make_server

from devstack import postgres

TEST_SECRETS = {
    "JWT_SECRET": "test-jwt-secret-" + "x" * 32,
    "SERVICE_TOKEN_SECRET": "test-service-secret-" + "y" * 32,
}


@dataclass
class PgDatabase:
    name: str

    def url(self, schema: str) -> str:
        return postgres.service_url(schema, self.name)

    def admin_url(self) -> str:
        return postgres.admin_url(self.name)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgDatabase]:
    try:
        postgres.start()
    except Exception as exc:  # never a skip: a missing database is a failure
        pytest.fail(f"PostgreSQL could not be started: {exc}")
    name = f"salesync_test_{uuid.uuid4().hex[:10]}"
    postgres.provision(name)
    yield PgDatabase(name)
    postgres.drop_database(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_settings(package: str, pg_database: PgDatabase | None, **overrides: Any) -> Any:
    config = importlib.import_module(f"{package}.config")
    values: dict[str, Any] = {
        "salesync_env": "test",
        "jwt_secret": TEST_SECRETS["JWT_SECRET"],
        "service_token_secret": TEST_SECRETS["SERVICE_TOKEN_SECRET"],
        "log_level": os.environ.get("TEST_LOG_LEVEL", "WARNING"),
        "background_workers": False,
    }
    schema = getattr(config, "SCHEMA", None)
    if pg_database is not None and schema is not None:
        values["database_url"] = pg_database.url(schema)
    values.update(overrides)
    return config.Settings(**values)


def build_app(package: str, settings: Any) -> Flask:
    from salesync_common.migrate import upgrade

    config = importlib.import_module(f"{package}.config")
    schema = getattr(config, "SCHEMA", None)
    if schema is not None:
        upgrade(package, settings, schema)
    app_module = importlib.import_module(f"{package}.app")
    app = app_module.create_app(settings)
    app.testing = True
    return app


@pytest.fixture(scope="session")
def service_app(pg: PgDatabase) -> Callable[..., Flask]:
    """``service_app("item_service", item_service_url=...)`` -> migrated app on the test DB."""

    def factory(package: str, **overrides: Any) -> Flask:
        return build_app(package, make_settings(package, pg, **overrides))

    return factory


class ServedApp:
    def __init__(self, app: Flask, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def serve() -> Iterator[Callable[..., ServedApp]]:
    started: list[ServedApp] = []

    def factory(app: Flask, port: int | None = None) -> ServedApp:
        served = ServedApp(app, port)
        started.append(served)
        return served

    yield factory
    for served in started:
        served.stop()


@contextlib.contextmanager
def count_queries(engine: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def auth_headers(token: str) -> dict[str, str]:
    """The headers the React frontend sends on authenticated calls."""
    return {
        "Authorization": f"Bearer {token}",
        "X-CSRF-Token": "csrf-from-login",
        "Content-Type": "application/json",
    }


def token_for(store_id: int, tz: str = "Asia/Seoul") -> str:
    """A valid user token for ``store_id`` signed with the test secret (no store service needed)."""
    from salesync_common.auth import issue_access_token
    from salesync_common.settings import ServiceSettings

    settings = ServiceSettings(
        jwt_secret=TEST_SECRETS["JWT_SECRET"],
        service_token_secret=TEST_SECRETS["SERVICE_TOKEN_SECRET"],
    )
    return issue_access_token(settings, store_id, tz)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    from devstack import kafka

    started = False
    boot = kafka.bootstrap()
    if boot is None or not kafka.is_running():
        try:
            boot = kafka.start(timeout=120)
        except Exception as exc:  # never a skip: a missing broker must not turn Kafka tests green
            pytest.fail(f"could not start the devstack Kafka broker:\n{exc}", pytrace=False)
        started = True
    yield boot
    if started:
        kafka.stop()
