"""ContainerLauncher: what a container gets from the stack's environment (no engine needed: the
engine's CLI is replaced by ``true``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.images import ContainerLauncher, Engine
from devstack.stack import SERVICES, Stack

STORE = next(s for s in SERVICES if s.name == "store")
DASHBOARD = next(s for s in SERVICES if s.name == "dashboard")


@pytest.fixture(autouse=True)
def _no_postgres_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "devstack.postgres.service_url",
        lambda schema, dbname: f"postgresql://{schema}_svc:pw-{schema}-0123456789@127.0.0.1:1/x",
    )


@pytest.fixture()
def launcher() -> ContainerLauncher:
    engine = Engine("podman", ("true",), ("--ulimit", "nofile=1024:1024"))
    return ContainerLauncher(engine, {s.name: f"salesync-{s.name}:test" for s in SERVICES})


def test_the_container_gets_the_service_settings_not_the_host(
    launcher: ContainerLauncher, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "INFO")  # a setting that happens to equal the host's
    monkeypatch.setenv("SOME_HOST_THING", "x")
    stack = Stack(run_dir=tmp_path, extra_env={"LOG_LEVEL": "INFO"})
    env = stack.env_for(STORE)
    argv, child_env = launcher.command(STORE, env, (), stack.port("store"))

    names = {argv[i + 1] for i, arg in enumerate(argv) if arg == "--env"}
    assert {"DATABASE_URL", "JWT_SECRET", "SERVICE_TOKEN_SECRET", "BIND", "LOG_LEVEL"} <= names
    assert {"ITEM_SERVICE_URL", "GUNICORN_WORKERS", "PORT", "SERVICE_NAME"} <= names
    assert not names & {"PATH", "HOME", "PYTHONPATH", "PROMETHEUS_MULTIPROC_DIR", "SALESYNC_ENV"}
    assert "SOME_HOST_THING" not in names
    assert child_env["PORT"] == str(stack.port("store"))
    assert child_env["JWT_SECRET"] == env["JWT_SECRET"]
    # Values travel in the child's environment, never on its command line.
    assert not any(env["JWT_SECRET"] in arg or env["DATABASE_URL"] in arg for arg in argv)
    for flag in ("--read-only", "--network", "--cap-drop", "--user", "--tmpfs", "--rm"):
        assert flag in argv
    assert argv[argv.index("--user") + 1] == "10001:10001"
    assert argv[argv.index("--name") + 1] == f"salesync-store-{stack.port('store')}"
    assert argv[-1] == "salesync-store:test" and "nofile=1024:1024" in argv
    assert "--no-healthcheck" not in argv


def test_files_named_by_the_environment_are_mounted_read_only(
    launcher: ContainerLauncher, tmp_path: Path
) -> None:
    ca = tmp_path / "kafka-ca.pem"
    ca.write_text("a CA certificate")
    stack = Stack(run_dir=tmp_path, extra_env={"KAFKA_SSL_CAFILE": str(ca)})
    argv, _env = launcher.command(DASHBOARD, stack.env_for(DASHBOARD), ("migrate",), 9999)
    assert f"{ca}:{ca}:ro" in argv
    assert argv[argv.index("--name") + 1] == "salesync-dashboard-9999-migrate"
    assert argv[-2:] == ["salesync-dashboard:test", "migrate"]
    assert "--no-healthcheck" in argv  # a one-off command, not a service
    assert launcher.commands[-1] == argv
