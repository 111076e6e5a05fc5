"""Pytest fixtures shared by every test suite (loaded from the root ``conftest.py``).

- ``pg``: the real local PostgreSQL (started if needed) and a fresh database for this test run,
  provisioned with one role and schema per service. In CI a PostgreSQL that cannot start fails.
- ``service_app(package)``: a service's Flask app on that database, migrated, with test settings.
- ``serve(app)``: runs an app on a real HTTP port in a thread (for calls between services).
- ``count_queries(db)``: counts SQL statements (N+1 checks).
- ``redis_url``: the real local Redis (started if needed), the rate limits' shared storage.
- ``gunicorn_service(package, workdir, **env)``: a service as its own gunicorn process on the test
  database, as the stack and production run it.
- ``kafka_broker``: the devstack Kafka broker's SASL_SSL bootstrap address (started if needed and
  then stopped at the end; a broker that cannot start fails the run, never skips it). Clients
  connect with ``devstack.kafka.client_config(user)`` / ``client_settings(user)``.
- ``kafka_apps(service_app, kafka_broker)``: builds apps with their background workers (outbox
  relay, consumers) on that broker as each service's own user, shut down on exit: the setup of
  every Kafka round-trip test. ``wait_for(check, timeout, what)`` polls for its outcome.
- ``new_store_id()``: a store id no other test of this pytest session uses (every service's
  tests share one database: a fixed id makes a test depend on which files ran before it).
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from werkzeug.serving import make_server

from devstack import postgres
from salesync_common.db import prepared_source

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


@contextlib.contextmanager
def fresh_database(prefix: str = "salesync_test") -> Iterator[PgDatabase]:
    """A new database on the local PostgreSQL (started if needed), provisioned, dropped after."""
    try:
        postgres.start()
    except Exception as exc:  # never a skip: a missing database is a failure
        pytest.fail(f"PostgreSQL could not be started: {exc}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    postgres.provision(name)
    try:
        yield PgDatabase(name)
    finally:
        postgres.drop_database(name)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgDatabase]:
    with fresh_database() as database:
        yield database


@pytest.fixture(scope="session")
def redis_url() -> str:
    """``redis://...`` of the local Redis (db 15, emptied first); never a skip when it can't run."""
    from devstack import redis as redis_server

    try:
        redis_server.start()
    except Exception as exc:
        pytest.fail(f"Redis could not be started: {exc}")
    url = redis_server.url(15)
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


@contextlib.contextmanager
def gunicorn_service(
    package: str, pg_database: PgDatabase, workdir: Path, **env: str
) -> Iterator[str]:
    """Serve ``package`` (migrated beforehand) with gunicorn; yields its URL, stops it after."""
    import subprocess
    import sys
    import time

    import requests

    from devstack.stack import REPO

    config = importlib.import_module(f"{package}.config")
    schema = getattr(config, "SCHEMA", None)
    port = free_port()
    values = {
        **os.environ,
        **TEST_SECRETS,
        "PYTHONPATH": str(REPO),
        "SALESYNC_ENV": "test",
        "BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
        "LOG_LEVEL": "WARNING",
        "BACKGROUND_WORKERS": "false",
        **({"DATABASE_URL": pg_database.url(schema)} if schema else {}),
        **env,
    }
    log_path = workdir / f"{package}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "salesync_common.serve", package],
            env=values,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{package} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


# Below Linux's ephemeral range (32768-60999): the kernel never hands these out as the local port
# of an outgoing connection, so a port found free here stays free until the test binds it, even
# while other clients (PostgreSQL pools, Kafka) open connections in between.
_TEST_PORTS = range(20000, 32000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 outside the ephemeral range, never the same twice per run."""
    for port in random.sample(_TEST_PORTS, 200):
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port in 20000-31999")


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
    """The statements sent to ``engine`` meanwhile, one per round trip (a prepared statement's
    PREPARE, sent once per connection, is not counted)."""
    statements: list[str] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(prepared_source(conn, statement))  # the SQL, not EXECUTE name(...)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


# Above every fixed id the older tests still use (all below 10 000): the two never meet.
_store_ids = itertools.count(1_000_000)


def new_store_id() -> int:
    """A store id no other test of this session has used (the test database is shared)."""
    return next(_store_ids)


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


def staff_token_for(store_id: int, role: str, staff_id: int = 1, tz: str = "Asia/Seoul") -> str:
    """A valid staff token (``role``: manager or cashier) signed with the test secret."""
    from salesync_common.auth import issue_staff_token
    from salesync_common.settings import ServiceSettings

    settings = ServiceSettings(
        jwt_secret=TEST_SECRETS["JWT_SECRET"],
        service_token_secret=TEST_SECRETS["SERVICE_TOKEN_SECRET"],
    )
    token, _ = issue_staff_token(settings, store_id, tz, staff_id=staff_id, role=role)  # type: ignore[arg-type]
    return token


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    from devstack import kafka

    was_running = kafka.is_running()
    try:
        # Also when it runs: start() then only creates users added to SERVICE_USERS since.
        boot = kafka.start(timeout=120)
    except Exception as exc:  # never a skip: a missing broker must not turn Kafka tests green
        pytest.fail(f"could not start the devstack Kafka broker:\n{exc}", pytrace=False)
    yield boot
    if not was_running:
        kafka.stop()


@contextlib.contextmanager
def kafka_apps(service_app: Callable[..., Flask], bootstrap: str) -> Iterator[Callable[..., Flask]]:
    """``start("order_service", **settings)`` -> the app with its background workers on Kafka.

    Each app talks to the broker at ``bootstrap`` over SASL_SSL as its service's own SCRAM user
    (as on MSK); every app started is shut down (workers, consumers, relay) on exit, last first.
    """
    from devstack import kafka

    started: list[Flask] = []

    def start(package: str, **overrides: Any) -> Flask:
        service = package.removesuffix("_service")
        app = service_app(
            package,
            background_workers=True,
            **kafka.client_settings(service, bootstrap),
            **overrides,
        )
        started.append(app)
        return app

    try:
        yield start
    finally:
        for app in reversed(started):
            app.extensions["salesync"].shutdown()


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``check`` until true; the seconds it took (fails the test after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
