"""devstack.debian: a missing server is installed from Debian's packages (root) or named."""

from __future__ import annotations

from typing import Any

import pytest

from devstack import debian


def test_a_present_server_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian.subprocess, "run", lambda *a, **k: pytest.fail("apt-get ran"))
    assert debian.ensure_installed("redis-server", "Redis", lambda: "/usr/bin/redis-server") == (
        "/usr/bin/redis-server"
    )


def test_without_root_it_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(debian.subprocess, "run", lambda *a, **k: pytest.fail("apt-get ran"))
    with pytest.raises(SystemExit, match="apt-get install postgresql"):
        debian.ensure_installed("postgresql", "PostgreSQL", lambda: None)


def test_as_root_it_installs_the_package_then_finds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[list[str]] = []

    def run(cmd: list[str], **kwargs: Any) -> None:
        assert kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        installed.append(cmd)

    monkeypatch.setattr(debian.os, "geteuid", lambda: 0)
    monkeypatch.setattr(debian.subprocess, "run", run)
    found = debian.ensure_installed(
        "nginx", "nginx", lambda: "/usr/sbin/nginx" if installed else None
    )
    assert found == "/usr/sbin/nginx"
    assert installed[0][:2] == ["apt-get", "update"]
    assert installed[1][-1] == "nginx" and installed[1][:2] == ["apt-get", "install"]


def test_still_missing_after_the_install_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian.os, "geteuid", lambda: 0)
    monkeypatch.setattr(debian.subprocess, "run", lambda *a, **k: None)
    with pytest.raises(SystemExit, match="redis-server installed but Redis was not found"):
        debian.ensure_installed("redis-server", "Redis", lambda: None)
