"""Gateway behaviour with the real store service behind it (a live HTTP server)."""

from __future__ import annotations

import pytest

from devstack.testing import free_port

SIGNUP = {
    "username": "gw-owner",
    "password": "secret-pw",
    "owner_name": "김사장",
    "phone": "01012345678",
    "store_name": "게이트웨이 가게",
    "address": "서울",
    "store_type": "일반음식점",
}
FRONTEND_ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def store(service_app, serve):
    return serve(service_app("store_service", rate_limits_enabled=False))


@pytest.fixture(scope="module")
def gateway(service_app, store):
    dead = f"http://127.0.0.1:{free_port()}"
    app = service_app(
        "bff",
        store_service_url=store.url,
        item_service_url=dead,
        order_service_url=dead,
        sale_service_url=dead,
        dashboard_service_url=dead,
        consulting_service_url=dead,
        login_rate_limit="5/minute",
        http_retries=0,
    )
    return app.test_client()


def test_store_journey_through_the_gateway(gateway):
    created = gateway.post("/stores/", json=SIGNUP)
    assert created.status_code == 201
    token = created.json["token"]["access_token"]
    headers = {"Authorization": f"Bearer {token}", "X-CSRF-Token": "x"}
    profile = gateway.get("/stores/", headers=headers)
    assert profile.status_code == 200
    assert profile.json["store"]["username"] == "gw-owner"
    assert profile.headers["Content-Type"] == "application/json"
    assert gateway.get("/stores/check?username=gw-owner").json["result"] == "failed"


def test_no_redirects_on_contract_paths(gateway):
    for path in ("/stores", "/stores/"):
        response = gateway.get(path)
        assert response.status_code == 401  # answered, not redirected
        assert "Location" not in response.headers


def test_preflight_on_every_path(gateway):
    for path in ("/stores/", "/orders/unpaids/3", "/anything/at/all", "/bff/costs"):
        response = gateway.options(
            path,
            headers={
                "Origin": FRONTEND_ORIGIN,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization,content-type,x-csrf-token",
            },
        )
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        for method in ("GET", "POST", "PUT", "DELETE"):
            assert method in response.headers["Access-Control-Allow-Methods"]
        for header in ("Authorization", "Content-Type", "X-CSRF-Token"):
            assert header in response.headers["Access-Control-Allow-Headers"]
    simple = gateway.get("/stores/check?username=zzz", headers={"Origin": FRONTEND_ORIGIN})
    assert simple.headers["Access-Control-Allow-Origin"] == "*"


def test_internal_paths_are_not_routed(gateway, store):
    for path in ("/internal/stores/1", "/stores/../internal/stores/1", "/stores/all"):
        response = gateway.get(path)
        assert response.status_code in (404, 401, 405)
        assert response.json["result"] == "failed"
    assert gateway.get("/internal/stores/1").status_code == 404


def test_edge_rejects_bad_tokens_without_calling_services(gateway):
    response = gateway.get("/orders/unpaids", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_token"


def test_dead_service_is_json_503(gateway):
    token = gateway.post("/stores/", json={**SIGNUP, "username": "gw-503"}).json["token"][
        "access_token"
    ]
    response = gateway.get("/orders/unpaids", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.json["result"] == "failed"
    assert response.json["error"]["code"] == "dependency_unavailable"
    assert response.json["dependency"] == "order"


def test_request_id_round_trip(gateway):
    response = gateway.get("/stores/check?username=rid", headers={"X-Request-ID": "abc123"})
    assert response.headers["X-Request-ID"] == "abc123"


def test_login_rate_limit_at_the_edge(gateway):
    statuses = [
        gateway.post("/stores/login", json={"username": "x", "password": "y"}).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [400] * 5
    assert statuses[5:] == [429, 429]


def test_public_document_links_resolve(gateway, monkeypatch):
    from bff.app import openapi

    # every link must point at an operation the document really has
    document = {"paths": {}}
    operation_ids = set()
    for (method, path, status), links in openapi.LINKS.items():
        document["paths"].setdefault(path, {})[method] = {"responses": {status: {}}}
        operation_ids |= {operation_id for operation_id, _, _ in links.values()}
    openapi._add_links(document["paths"])
    assert all(
        "links" in document["paths"][path][method]["responses"][status]
        for method, path, status in openapi.LINKS
    )
    import re

    from bff.app.routes import ROUTES
    from salesync_common.api import _path_and_params

    known = set()
    for route in ROUTES:
        public_path, _ = _path_and_params(route.rule)
        slug = re.sub(r"[^a-zA-Z0-9]+", "_", public_path).strip("_")
        known.add(f"{route.method.lower()}_{slug}")
    assert operation_ids <= known
