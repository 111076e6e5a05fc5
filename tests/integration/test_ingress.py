"""nginx as the ingress (``devstack/nginx.py``, config rendered from the route table), in front of
a real store service (gunicorn): routes, the answers nginx gives itself (all JSON, all with CORS),
headers passed on, and keep-alive connections to the upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devstack.nginx import Ingress
from devstack.testing import free_port, gunicorn_service
from salesync_common.routing import UPSTREAMS

ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def edge(pg, service_app, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingress]:
    service_app("store_service")  # migrates the store schema of the test database
    workdir = tmp_path_factory.mktemp("ingress")
    with gunicorn_service("store_service", pg, workdir, RATE_LIMITS_ENABLED="false") as store:
        dead = f"127.0.0.1:{free_port()}"
        address = store.removeprefix("http://")
        upstreams = {name: address if name == "store" else dead for name in UPSTREAMS}
        ingress = Ingress(workdir / "nginx", free_port(), upstreams).start()
        yield ingress
        ingress.stop()


def _is_json_error(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert body["result"] == "failed" and body["error"]["code"]
    return body


def test_public_prefixes_reach_their_service(edge: Ingress) -> None:
    answer = requests.get(f"{edge.url}/stores/check?username=ingress-user", timeout=10)
    assert answer.status_code == 200 and answer.json()["result"] == "success"
    assert requests.get(f"{edge.url}/stores", timeout=10).status_code == 401  # no redirect


def test_blocked_paths_are_a_json_404_with_cors(edge: Ingress) -> None:
    for path in ("/internal/stores/1", "/metrics", "/stores/../internal/stores/1", "//internal"):
        body = _is_json_error(
            requests.get(f"{edge.url}{path}", headers={"Origin": ORIGIN}, timeout=10), 404
        )
        assert body["error"]["code"] == "not_found"
    preflight = requests.options(
        f"{edge.url}/internal/stores/1",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert preflight.status_code == 204
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]


def test_a_service_down_is_a_json_503_naming_it(edge: Ingress) -> None:
    body = _is_json_error(requests.get(f"{edge.url}/orders/unpaids", timeout=10), 503)
    assert body["error"]["code"] == "dependency_unavailable" and body["dependency"] == "order"
    # unknown paths belong to the BFF (down here too)
    assert _is_json_error(requests.get(f"{edge.url}/no/such", timeout=10), 503)["dependency"] == (
        "bff"
    )


def test_an_oversized_body_is_refused_at_the_ingress_in_json(edge: Ingress) -> None:
    too_big = b'{"username": "' + b"x" * (300 * 1024) + b'"}'
    response = requests.post(
        f"{edge.url}/stores/login",
        data=too_big,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert _is_json_error(response, 413)["error"]["code"] == "payload_too_large"
    assert edge.count_requests().get("store", 0) >= 1  # logged where it was aimed


def test_request_ids_are_passed_on_or_minted(edge: Ingress) -> None:
    given = requests.get(
        f"{edge.url}/stores/check?username=rid", headers={"X-Request-ID": "abc123"}, timeout=10
    )
    assert given.headers["X-Request-ID"] == "abc123"  # the service saw the client's id
    minted = requests.get(f"{edge.url}/stores/check?username=rid", timeout=10)
    assert len(minted.headers["X-Request-ID"]) == 32  # nginx's $request_id, kept by the service
    # nginx logs the request after answering it: wait for its line, with a deadline
    assert edge.wait_for_access_line("store", minted.headers["X-Request-ID"])


def test_upstream_connections_are_kept_alive(edge: Ingress) -> None:
    """Many calls through nginx reuse a few upstream connections (no TCP handshake per call)."""
    import psutil

    session = requests.Session()
    for _ in range(30):
        assert session.get(f"{edge.url}/stores/check?username=ka", timeout=10).ok
    store_port = int(edge.upstreams["store"].rsplit(":", 1)[1])
    connections = [
        c
        for c in psutil.net_connections("tcp")
        if c.raddr and c.raddr.port == store_port and c.status == "ESTABLISHED"
    ]
    assert 1 <= len(connections) <= 2, connections
