"""What ``make up`` prints: the stack's addresses, never a password."""

from __future__ import annotations

import pytest

from devstack import postgres
from devstack import redis as redis_server
from devstack import stack as stack_module

ADMIN_URL = "postgresql://postgres:s3cret-Pa55word@127.0.0.1:54321/salesync"


def test_masked_hides_only_the_password() -> None:
    assert postgres.masked(ADMIN_URL) == "postgresql://postgres:***@127.0.0.1:54321/salesync"
    assert postgres.masked("postgresql://127.0.0.1:5432/db") == "postgresql://127.0.0.1:5432/db"
    assert postgres.masked("postgresql://user@host/db") == "postgresql://user@host/db"
    # a password holding '@' or ':' is hidden whole
    assert postgres.masked("postgresql://u:p@ss:w@h:1/d") == "postgresql://u:***@h:1/d"


def test_make_up_prints_no_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack_module.Stack, "start", lambda self: None)
    monkeypatch.setattr(postgres, "admin_url", lambda dbname=postgres.DEFAULT_DB: ADMIN_URL)
    monkeypatch.setattr(redis_server, "port", lambda: 6390)

    assert stack_module.main(["stack", "up"]) == 0

    out = capsys.readouterr().out
    assert "s3cret-Pa55word" not in out
    assert "postgresql://postgres:***@127.0.0.1:54321/salesync" in out
