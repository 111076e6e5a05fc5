"""Reports and the cost page against the real item, order and sale services over HTTP.

Costs set after a sale, a cost change between sales, a refund, an item renamed and another deleted
after being sold: the figures follow the contract's rules end to end.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests

from devstack.testing import auth_headers, new_store_id, token_for
from salesync_common.timeutil import business_date, utcnow


@pytest.fixture(scope="module")
def stack(service_app, serve):
    item = serve(service_app("item_service"))
    order = serve(service_app("order_service", item_service_url=item.url))
    sale = serve(service_app("sale_service", order_service_url=order.url))
    dashboard = service_app(
        "dashboard_service",
        item_service_url=item.url,
        order_service_url=order.url,
        sale_service_url=sale.url,
        store_service_url=item.url,
        rate_limits_enabled=False,
    )
    return SimpleNamespace(item=item, order=order, sale=sale, client=dashboard.test_client())


def h(store_id):
    return auth_headers(token_for(store_id))


def call(method, url, store_id, **kwargs):
    response = requests.request(method, url, headers=h(store_id), timeout=15, **kwargs)
    assert response.status_code < 300, (url, response.status_code, response.text)
    return response.json()


def sell(stack, store_id, table_no, carts, total):
    call(
        "POST", f"{stack.order.url}/orders/", store_id, json={"table_no": table_no, "carts": carts}
    )
    paid = call(
        "POST",
        f"{stack.sale.url}/sales/",
        store_id,
        json={"table_no": table_no, "payment_type": "카드", "total_price": total},
    )
    assert paid["result"] == "success", paid
    return paid["id"]


def test_report_follows_costs_refunds_renames_and_deletes(stack):
    store = new_store_id()
    category = call("POST", f"{stack.item.url}/categories/", store, json={"name": "분식"})["id"]
    items_url = f"{stack.item.url}/categories/{category}/items"
    kimbap = call("POST", items_url, store, json={"name": "김밥", "price": "3000"})["id"]
    ramen = call("POST", items_url, store, json={"name": "라면", "price": 5000, "cost": 2000})["id"]

    # Sale 1: kimbap has no cost yet (its later cost, 1000, applies), ramen costs 2000.
    sell(
        stack,
        store,
        1,
        [{"item_id": kimbap, "quantity": 2}, {"item_id": ramen, "quantity": 1}],
        11000,
    )
    page = stack.client.get("/dashboard/costs", headers=h(store)).json
    assert page["items"][0]["items"][0] == {
        "item_id": kimbap,
        "name": "김밥",
        "price": 3000,
        "cost": None,
    }
    page["items"][0]["items"][0]["cost"] = 1000
    saved = stack.client.post("/dashboard/costs", json={"items": page["items"]}, headers=h(store))
    assert saved.status_code == 200 and saved.json["message"] == "원가 등록 성공", saved.json
    # Sale 2 at cost 1000; then kimbap is renamed, ramen deleted; sale 3 is refunded.
    sell(stack, store, 2, [{"item_id": kimbap, "quantity": 1}], 3000)
    call(
        "PUT",
        f"{stack.item.url}/categories/items/{kimbap}",
        store,
        json={"name": "참치김밥", "price": "3000"},
    )
    call("DELETE", f"{stack.item.url}/categories/items/{ramen}", store)
    refunded = sell(stack, store, 3, [{"item_id": kimbap, "quantity": 1}], 3000)
    call("DELETE", f"{stack.sale.url}/sales/{refunded}", store)

    today = business_date(utcnow(), "Asia/Seoul")
    yesterday = today - timedelta(days=1)
    sales = stack.client.get(f"/dashboard/sales?start={today}&end={today}", headers=h(store))
    assert sales.status_code == 200, sales.json
    assert sales.json["sales_volume"] == 14000  # 17000 sold, 3000 refunded
    assert sales.json["items"] == [
        {
            "item_id": kimbap,
            "name": "참치김밥",
            "sales_volume": 12000,
            "profit": 8000,
            "quantity": 4,
        },
        {"item_id": ramen, "name": "라면", "sales_volume": 5000, "profit": 3000, "quantity": 1},
    ]
    volumes = stack.client.get(
        f"/dashboard/volumes?start={yesterday}&end={today}", headers=h(store)
    )
    assert volumes.json["total"] == [
        {"date": yesterday.isoformat(), "sales_volume": 0, "profit": 0},
        {"date": today.isoformat(), "sales_volume": 14000, "profit": 11000},
    ]
    # Another store sees none of it.
    other = stack.client.get(
        f"/dashboard/sales?start={today}&end={today}", headers=h(new_store_id())
    )
    assert other.json["items"] == [] and other.json["sales_volume"] == 0


def test_cost_page_is_all_or_nothing(stack):
    store = new_store_id()
    category = call("POST", f"{stack.item.url}/categories/", store, json={"name": "음료"})["id"]
    tea = call(
        "POST",
        f"{stack.item.url}/categories/{category}/items",
        store,
        json={"name": "차", "price": "2000"},
    )["id"]
    foreign_store = new_store_id()
    foreign_cat = call("POST", f"{stack.item.url}/categories/", foreign_store, json={"name": "x"})[
        "id"
    ]
    foreign = call(
        "POST",
        f"{stack.item.url}/categories/{foreign_cat}/items",
        foreign_store,
        json={"name": "y", "price": "1"},
    )["id"]
    body = {
        "items": [
            {
                "category_id": category,
                "items": [{"item_id": tea, "cost": 500}, {"item_id": foreign, "cost": 1}],
            }
        ]
    }
    response = stack.client.post("/dashboard/costs", json=body, headers=h(store))
    assert 400 <= response.status_code < 500 and response.json["result"] == "failed"
    page = stack.client.get("/dashboard/costs", headers=h(store)).json
    assert page["items"][0]["items"][0]["cost"] is None  # nothing changed


def test_seoul_day_boundary_and_empty_days(stack, monkeypatch):
    """Paid at 23:59 and 00:01 Asia/Seoul: two business days; the days around them are zeros."""
    from datetime import UTC, datetime

    import order_service.app.payments as order_payments

    store = new_store_id()
    category = call("POST", f"{stack.item.url}/categories/", store, json={"name": "야식"})["id"]
    url = f"{stack.item.url}/categories/{category}/items"
    tteok = call("POST", url, store, json={"name": "떡볶이", "price": 4000, "cost": 1500})["id"]

    before_midnight = datetime(2026, 3, 14, 14, 59, tzinfo=UTC)  # 23:59 KST, March 14
    after_midnight = datetime(2026, 3, 14, 15, 1, tzinfo=UTC)  # 00:01 KST, March 15
    monkeypatch.setattr(order_payments, "utcnow", lambda: before_midnight)
    sell(stack, store, 1, [{"item_id": tteok, "quantity": 1}], 4000)
    monkeypatch.setattr(order_payments, "utcnow", lambda: after_midnight)
    sell(stack, store, 2, [{"item_id": tteok, "quantity": 2}], 8000)
    monkeypatch.undo()

    volumes = stack.client.get(
        "/dashboard/volumes?start=2026-03-13&end=2026-03-16", headers=h(store)
    ).json
    assert volumes["total"] == [
        {"date": "2026-03-13", "sales_volume": 0, "profit": 0},
        {"date": "2026-03-14", "sales_volume": 4000, "profit": 2500},
        {"date": "2026-03-15", "sales_volume": 8000, "profit": 5000},
        {"date": "2026-03-16", "sales_volume": 0, "profit": 0},
    ]
    first_day = stack.client.get(
        "/dashboard/sales?start=2026-03-14&end=2026-03-14", headers=h(store)
    ).json
    assert first_day["sales_volume"] == 4000
    assert [(i["item_id"], i["quantity"]) for i in first_day["items"]] == [(tteok, 1)]
