"""salesync_common.idempotency on a real (SQLite) table: a retry with the same key replays."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, request
from sqlalchemy import MetaData, create_engine

from salesync_common import idempotency
from salesync_common.errors import register_error_handlers
from salesync_common.idempotency import IdempotencyStore
from salesync_common.tables import idempotency_table


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    engine = create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    metadata = MetaData()
    table = idempotency_table(metadata)
    metadata.create_all(engine)
    store = IdempotencyStore(lambda: engine, table)
    monkeypatch.setattr(idempotency, "current_store_id", lambda: 7)
    app = Flask("idempotency")
    register_error_handlers(app)
    app.config["calls"] = 0

    @app.post("/pay")
    def pay():  # type: ignore[no-untyped-def]
        def handler() -> tuple[dict, int]:
            app.config["calls"] += 1
            status = int(request.args.get("status", 201))
            return {"n": app.config["calls"]}, status

        return store.run(handler)

    return app


def test_a_replay_returns_the_first_answer_without_running_again(app: Flask) -> None:
    client = app.test_client()
    first = client.post("/pay", json={"a": 1}, headers={"Idempotency-Key": "k1"})
    again = client.post("/pay", json={"a": 1}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json == {"n": 1}
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert app.config["calls"] == 1


def test_the_same_key_for_another_request_is_422(app: Flask) -> None:
    client = app.test_client()
    client.post("/pay", json={"a": 1}, headers={"Idempotency-Key": "k2"})
    other = client.post("/pay", json={"a": 2}, headers={"Idempotency-Key": "k2"})
    assert other.status_code == 422 and app.config["calls"] == 1


def test_a_server_error_releases_the_key_for_a_retry(app: Flask) -> None:
    client = app.test_client()
    failed = client.post("/pay?status=500", json={}, headers={"Idempotency-Key": "k3"})
    retried = client.post("/pay?status=500", json={}, headers={"Idempotency-Key": "k3"})
    assert failed.status_code == retried.status_code == 500
    assert app.config["calls"] == 2


def test_without_a_key_every_call_runs(app: Flask) -> None:
    client = app.test_client()
    client.post("/pay", json={})
    client.post("/pay", json={})
    assert app.config["calls"] == 2


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "bad\tkey"])
def test_an_invalid_key_is_422_and_runs_nothing(app: Flask, key: str) -> None:
    answer = app.test_client().post("/pay", json={}, headers={"Idempotency-Key": key})
    assert answer.status_code == 422 and answer.json["error"]["code"] == "invalid_idempotency_key"
    assert app.config["calls"] == 0
