"""The BFF with the real services behind it (live HTTP servers): the ``/bff/*`` aggregations
answered by the dashboard, the merged public OpenAPI document, and the contract's JSON 404/405 for
the unknown paths the ingress sends it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from devstack.testing import auth_headers, free_port, new_store_id, token_for

FRONTEND_ORIGIN = "http://localhost:3000"
SERVICE_PACKAGES = {
    "store": "store_service",
    "item": "item_service",
    "order": "order_service",
    "sale": "sale_service",
    "dashboard": "dashboard_service",
    "consulting": "consulting_service",
}
# Every route of the public contract (api-contract.md): the merged document must have them all.
CONTRACT = {
    ("get", "/stores/check"),
    ("post", "/stores/"),
    ("post", "/stores/login"),
    ("get", "/stores/"),
    ("post", "/stores/pwcheck"),
    ("put", "/stores/{store_id}"),
    ("get", "/categories/"),
    ("post", "/categories/"),
    ("put", "/categories/{category_id}"),
    ("delete", "/categories/{category_id}"),
    ("get", "/categories/items"),
    ("post", "/categories/{category_id}/items"),
    ("put", "/categories/items/{item_id}"),
    ("delete", "/categories/items/{item_id}"),
    ("get", "/orders/unpaids"),
    ("get", "/orders/unpaids/{table_no}"),
    ("post", "/orders/"),
    ("put", "/orders/"),
    ("delete", "/orders/{table_no}"),
    ("get", "/sales/"),
    ("post", "/sales/"),
    ("delete", "/sales/{sale_id}"),
    ("get", "/bff/sales"),
    ("get", "/bff/volumes"),
    ("get", "/bff/costs"),
    ("post", "/bff/costs"),
    ("get", "/dashboard/sales"),
    ("get", "/dashboard/volumes"),
    ("get", "/dashboard/calculate"),
    ("get", "/dashboard/consulting/{req_id}"),
    ("get", "/dashboard/consulting/test/{req_id}"),
    ("get", "/consulting/"),
    ("post", "/consulting/"),
    ("get", "/consulting/test"),
    ("get", "/consulting/{req_id}"),
    ("get", "/consulting/test/{req_id}"),
}


@pytest.fixture(scope="module")
def services(service_app, serve) -> SimpleNamespace:
    item = serve(service_app("item_service"))
    order = serve(service_app("order_service", item_service_url=item.url))
    sale = serve(service_app("sale_service", order_service_url=order.url))
    store = serve(service_app("store_service", rate_limits_enabled=False))
    dashboard = serve(
        service_app(
            "dashboard_service",
            item_service_url=item.url,
            order_service_url=order.url,
            sale_service_url=sale.url,
            store_service_url=store.url,
            rate_limits_enabled=False,
        )
    )
    consulting = serve(service_app("consulting_service", dashboard_service_url=dashboard.url))
    return SimpleNamespace(
        store=store, item=item, order=order, sale=sale, dashboard=dashboard, consulting=consulting
    )


@pytest.fixture(scope="module")
def bff(service_app, services):
    urls = {f"{name}_service_url": getattr(services, name).url for name in SERVICE_PACKAGES}
    return service_app("bff", http_retries=0, **urls).test_client()


@pytest.fixture(scope="module")
def bff_without_dashboard(service_app):
    dead = f"http://127.0.0.1:{free_port()}"
    return service_app("bff", dashboard_service_url=dead, http_retries=0).test_client()


def test_costs_are_the_dashboards_own_answer(bff, services) -> None:
    store_id = new_store_id()
    headers = auth_headers(token_for(store_id))
    category = requests.post(
        f"{services.item.url}/categories/", json={"name": "식사"}, headers=headers, timeout=10
    ).json()["id"]
    item = requests.post(
        f"{services.item.url}/categories/{category}/items",
        json={"name": "라면", "price": "4000"},
        headers=headers,
        timeout=10,
    ).json()["id"]

    costs = bff.get("/bff/costs", headers=headers)
    assert costs.status_code == 200 and costs.mimetype == "application/json"
    direct = requests.get(f"{services.dashboard.url}/dashboard/costs", headers=headers, timeout=10)
    assert costs.json == direct.json()
    items = costs.json["items"]
    items[0]["items"][0]["cost"] = 1500
    saved = bff.post("/bff/costs", json={"items": items}, headers=headers)
    assert saved.status_code == 200 and saved.json["result"] == "success"
    again = bff.get("/bff/costs", headers=headers).json["items"]
    assert {i["item_id"]: i["cost"] for g in again for i in g["items"]} == {item: 1500}


def test_reports_and_their_errors_pass_through(bff) -> None:
    headers = auth_headers(token_for(new_store_id()))
    empty = bff.get("/bff/volumes?start=2026-01-01&end=2026-01-03", headers=headers)
    assert empty.status_code == 200
    assert [day["sales_volume"] for day in empty.json["total"]] == [0, 0, 0]
    reversed_dates = bff.get("/bff/sales?start=2026-01-02&end=2026-01-01", headers=headers)
    assert reversed_dates.status_code == 400 and reversed_dates.json["result"] == "failed"


def test_a_bad_token_never_reaches_the_dashboard(bff_without_dashboard) -> None:
    bad = bff_without_dashboard.get("/bff/sales", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "invalid_token"
    down = bff_without_dashboard.get("/bff/sales", headers=auth_headers(token_for(1)))
    assert down.status_code == 503
    assert down.json["error"]["code"] == "dependency_unavailable"
    assert down.json["dependency"] == "dashboard"


def test_unknown_paths_are_json_with_cors(bff_without_dashboard) -> None:
    client = bff_without_dashboard
    missing = client.get("/anything/at/all", headers={"Origin": FRONTEND_ORIGIN})
    assert missing.status_code == 404 and missing.json["result"] == "failed"
    assert missing.headers["Access-Control-Allow-Origin"] == "*"
    wrong_method = client.put("/bff/sales", headers={"Origin": FRONTEND_ORIGIN})
    assert wrong_method.status_code == 405 and wrong_method.json["result"] == "failed"
    assert "GET" in wrong_method.headers["Allow"]
    preflight = client.options(
        "/no/such/path",
        headers={"Origin": FRONTEND_ORIGIN, "Access-Control-Request-Method": "DELETE"},
    )
    assert preflight.status_code == 204
    assert "DELETE" in preflight.headers["Access-Control-Allow-Methods"]


def test_public_document_is_the_contract_and_nothing_internal(bff) -> None:
    from bff.app import openapi

    document = bff.get("/openapi.json").json
    operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) >= CONTRACT
    assert not [p for p in document["paths"] if p.startswith(("/internal", "/metrics"))]
    # /bff/sales is documented by the dashboard operation that answers it
    sales = operations[("get", "/bff/sales")]["responses"]["200"]["content"]["application/json"]
    assert sales["schema"] == {"$ref": "#/components/schemas/dashboard.SalesOut"}
    assert "dashboard.SalesOut" in document["components"]["schemas"]
    for (method, path), operation in operations.items():
        for status in ("404", "502", "503", "504"):
            assert status in operation["responses"], (method, path, status)
        if operation.get("security"):
            assert "401" in operation["responses"], (method, path)
    # every link points at an operation the document really has
    ids = {operation["operationId"] for operation in operations.values()}
    for method, path, status in openapi.LINKS:
        links = operations[(method, path)]["responses"][status]["links"]
        assert {link["operationId"] for link in links.values()} <= ids
    limited = operations[("post", "/stores/login")]["responses"]
    assert "429" in limited
