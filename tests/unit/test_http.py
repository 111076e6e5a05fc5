"""salesync_common.http.ServiceClient: answers below 500 come back, failures become 502-504."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask, request

from devstack.testing import ServedApp, free_port
from salesync_common.errors import UpstreamError
from salesync_common.http import ServiceClient, register_in_process
from salesync_common.settings import ServiceSettings

SETTINGS = ServiceSettings(
    http_retries=2, http_timeout_seconds=0.5, http_connect_timeout_seconds=0.5
)


def sibling() -> tuple[Flask, dict[str, int]]:
    calls = {"flaky": 0, "broken": 0, "create": 0}
    app = Flask("sibling")

    @app.get("/echo")
    def echo() -> dict:
        return {"q": request.args.get("q"), "request_id": request.headers.get("X-Request-ID")}

    @app.get("/missing")
    def missing() -> tuple[dict, int]:
        return {"result": "failed"}, 404

    @app.get("/flaky")
    def flaky() -> tuple[dict, int]:
        calls["flaky"] += 1
        return ({"ok": True}, 200) if calls["flaky"] >= 2 else ({}, 500)

    @app.post("/create")
    def create() -> tuple[dict, int]:
        calls["create"] += 1
        return {}, 500

    @app.get("/unavailable")
    def unavailable() -> tuple[dict, int]:
        return {}, 503

    @app.get("/slow")
    def slow() -> dict:
        time.sleep(2)
        return {}

    return app, calls


@pytest.fixture
def served() -> Iterator[tuple[ServiceClient, dict[str, int]]]:
    app, calls = sibling()
    server = ServedApp(app)
    yield ServiceClient("sibling", server.url, SETTINGS), calls
    server.stop()


def test_an_answer_below_500_is_returned_with_its_json(served) -> None:
    client, _ = served
    answer = client.get("/echo", params={"q": "김밥"})
    assert answer.ok and answer.body["q"] == "김밥"
    missing = client.get("/missing")
    assert missing.status == 404 and not missing.ok and missing.body == {"result": "failed"}


def test_a_safe_call_is_retried_after_a_500(served) -> None:
    client, calls = served
    assert client.get("/flaky").body == {"ok": True}
    assert calls["flaky"] == 2


def test_a_post_is_not_retried_and_a_500_is_a_502(served) -> None:
    client, calls = served
    with pytest.raises(UpstreamError) as failure:
        client.post("/create", json={})
    assert calls["create"] == 1
    assert failure.value.status == 502 and failure.value.code == "bad_gateway"


def test_a_503_stays_unavailable(served) -> None:
    client, _ = served
    with pytest.raises(UpstreamError) as failure:
        client.get("/unavailable")
    assert failure.value.status == 503 and failure.value.code == "dependency_unavailable"


def test_a_slow_answer_times_out_as_504(served) -> None:
    client, _ = served
    started = time.monotonic()
    with pytest.raises(UpstreamError) as failure:
        client.get("/slow", idempotent=False)
    assert failure.value.status == 504 and failure.value.code == "dependency_timeout"
    assert time.monotonic() - started < 1.5  # the read timeout, not the sibling's 2 s


def test_nobody_listening_is_503() -> None:
    client = ServiceClient("sibling", f"http://127.0.0.1:{free_port()}", SETTINGS)
    with pytest.raises(UpstreamError) as failure:
        client.get("/echo", idempotent=False)
    assert failure.value.status == 503 and failure.value.extra == {"dependency": "sibling"}


def test_in_process_calls_reach_the_registered_app_without_a_socket() -> None:
    app, _ = sibling()
    register_in_process("sibling-inproc", app)
    client = ServiceClient("sibling", "inproc://sibling-inproc", SETTINGS)
    answer = client.get("/echo", params={"q": "x"}, headers={"X-Request-ID": "r-1"})
    assert answer.body == {"q": "x", "request_id": "r-1"}
