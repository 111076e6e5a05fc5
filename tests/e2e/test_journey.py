"""The frontend's whole journey through the ingress (nginx) of the distributed stack, over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import SERVICES

from .conftest import Frontend, seoul_today

pytestmark = pytest.mark.e2e

OWNER = {
    "username": "journey-owner",
    "password": "first-password",
    "owner_name": "김사장",
    "phone": "01012345678",
    "store_name": "여정 분식",
    "address": "서울시 중구 을지로 1",
    "store_type": "일반음식점",
}


def ok(response: requests.Response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers.get("Access-Control-Allow-Origin")
    return response.json()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def sms_from_backend(moto_url: str) -> list[tuple[str, str]]:
    """(phone, text) of every SMS the moto server (running in this process) recorded."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    assert requests.get(f"{moto_url}/moto-api/data.json", timeout=10).ok  # the server is real
    messages = sns_backends[DEFAULT_ACCOUNT_ID]["ap-northeast-1"].sms_messages.values()
    return [(entry[0], entry[1]) for entry in messages]


def metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A service's /metrics (gunicorn, multiprocess): {(sample name, sorted labels): value}."""
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_whole_journey(frontend: Frontend, stack, moto_sns: str) -> None:
    walk_journey(frontend, lambda: sms_from_backend(moto_sns), expected_phone="+821012345678")

    # The journey's consulting results went consulting -> outbox -> Kafka -> dashboard, each
    # service logged in over SASL_SSL as its own SCRAM user; the consumer's metrics say so.
    for service in SERVICES:
        env = stack.env_for(service)
        if service.name in ("item", "order", "sale", "dashboard", "consulting"):
            assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
            assert env["KAFKA_SASL_USERNAME"] == service.name
        else:
            assert "KAFKA_BOOTSTRAP_SERVERS" not in env
    topic = ("topic", "consulting.results")
    published = metrics(stack.url("consulting"))[("salesync_outbox_published_total", (topic,))]
    assert published >= 2
    dashboard = metrics(stack.url("dashboard"))
    assert dashboard[("salesync_events_consumed_total", (("outcome", "handled"), topic))] >= 2
    group = ("group", "dashboard-consulting-results")
    assert dashboard[("salesync_consumer_records_behind", (group, topic))] == 0
    assert dashboard[("salesync_consumer_lag_seconds", (group, topic))] == 0


def walk_journey(
    frontend: Frontend,
    read_texts: Callable[[], list[tuple[str, str]]],
    expected_phone: str,
) -> None:
    """Everything the frontend does, in its order; ``read_texts`` returns the texts sent so far."""
    today = seoul_today()

    # -- account -----------------------------------------------------------------------
    check = ok(frontend.get(f"/stores/check?username={OWNER['username']}"))
    assert check == {"result": "success", "message": "사용 가능한 아이디입니다."}
    created = ok(frontend.post("/stores/", OWNER), 201)
    assert created["result"] == "success" and isinstance(created["store_id"], int)
    store_id = created["store_id"]
    assert ok(frontend.get(f"/stores/check?username={OWNER['username']}"))["result"] == "failed"
    bad_login = frontend.post("/stores/login", {"username": OWNER["username"], "password": "wrong"})
    assert bad_login.status_code == 400
    login = ok(frontend.post("/stores/login", {k: OWNER[k] for k in ("username", "password")}))
    frontend.token, frontend.csrf = login["access_token"], login["csrf_token"]
    profile = ok(frontend.get("/stores/"))["store"]
    assert profile["store_id"] == store_id and profile["owner_name"] == OWNER["owner_name"]
    assert (
        ok(frontend.post("/stores/pwcheck", {"password": OWNER["password"]}))["result"] == "success"
    )
    assert ok(frontend.post("/stores/pwcheck", {"password": "nope"}))["result"] == "failed"
    changed = ok(frontend.put(f"/stores/{store_id}", {"password": "second-password"}))
    assert changed == {"result": "success", "message": "매장 정보 수정 성공", "store_id": store_id}
    assert (
        frontend.post(
            "/stores/login", {"username": OWNER["username"], "password": OWNER["password"]}
        ).status_code
        == 400
    )
    login = ok(
        frontend.post(
            "/stores/login", {"username": OWNER["username"], "password": "second-password"}
        )
    )
    frontend.token = login["access_token"]

    # -- menu ----------------------------------------------------------------------------
    food = ok(frontend.post("/categories/", {"name": "식사"}), 201)["id"]
    drinks = ok(frontend.post("/categories/", {"name": "음료"}), 201)["id"]
    empty = ok(frontend.post("/categories/", {"name": "빈 카테고리"}), 201)["id"]
    assert frontend.post("/categories/", {"name": "식사"}).status_code == 409
    assert ok(frontend.put(f"/categories/{drinks}", {"name": "음료수"}))["result"] == "success"
    categories = ok(frontend.get("/categories/"))
    assert [c["id"] for c in categories["categories"]] == sorted([food, drinks, empty])
    assert categories["store_id"] == store_id
    ramen = ok(frontend.post(f"/categories/{food}/items", {"name": "라면", "price": "4000"}), 201)[
        "id"
    ]
    gimbap = ok(frontend.post(f"/categories/{food}/items", {"name": "김밥", "price": 3000}), 201)[
        "id"
    ]
    cola = ok(frontend.post(f"/categories/{drinks}/items", {"name": "콜라", "price": "2000"}), 201)[
        "id"
    ]
    temp = ok(frontend.post(f"/categories/{drinks}/items", {"name": "임시", "price": "100"}), 201)[
        "id"
    ]
    dup = frontend.post(f"/categories/{food}/items", {"name": "라면", "price": "5000"})
    assert dup.status_code == 409
    assert (
        ok(frontend.put(f"/categories/items/{gimbap}", {"name": "참치김밥", "price": "3500"}))[
            "result"
        ]
        == "success"
    )
    assert ok(frontend.delete(f"/categories/items/{temp}"))["item_id"] == temp
    menu = ok(frontend.get("/categories/items"))["categories"]
    assert [c["category_id"] for c in menu] == sorted([food, drinks, empty])
    by_id = {item["item_id"]: item for c in menu for item in c["items"]}
    assert by_id[ramen]["price"] == 4000 and by_id[gimbap]["name"] == "참치김밥"
    assert temp not in by_id
    assert next(c for c in menu if c["category_id"] == empty)["items"] == []

    # -- orders on several tables, the kiosk's table 0 included ---------------------------
    assert ok(frontend.get("/orders/unpaids"))["orders"] == []
    assert ok(frontend.get("/orders/unpaids/1")) == {"carts": []}
    first = ok(
        frontend.post("/orders/", {"table_no": 1, "carts": [{"item_id": ramen, "quantity": 2}]})
    )
    assert first["result"] == "success" and first["table_no"] == 1
    ok(frontend.post("/orders/", {"table_no": 0, "carts": [{"item_id": cola, "quantity": 3}]}))
    ok(frontend.post("/orders/", {"table_no": 2, "carts": [{"item_id": gimbap, "quantity": 1}]}))
    empty_order = ok(frontend.post("/orders/", {"table_no": 5, "carts": []}))
    assert empty_order == {"result": "failed", "message": "주문 등록 실패 : 주문 내역 없음"}
    # a second terminal adds to table 1: still one open order
    again = ok(
        frontend.post("/orders/", {"table_no": 1, "carts": [{"item_id": cola, "quantity": 1}]})
    )
    assert again["order_id"] == first["order_id"]
    unpaid = ok(frontend.get("/orders/unpaids"))
    assert unpaid["store_id"] == str(store_id)
    assert [o["table_no"] for o in unpaid["orders"]] == [0, 1, 2]
    table1 = ok(frontend.get("/orders/unpaids/1"))
    assert table1["total_price"] == 2 * 4000 + 2000
    assert {(c["item_id"], c["quantity"]) for c in table1["carts"]} == {(ramen, 2), (cola, 1)}
    # edit: replace table 1's lines
    edited = ok(
        frontend.put(
            "/orders/",
            {
                "table_no": 1,
                "carts": [{"item_id": ramen, "quantity": 1}, {"item_id": gimbap, "quantity": 2}],
            },
        )
    )
    assert edited["result"] == "success"
    assert ok(frontend.get("/orders/unpaids/1"))["total_price"] == 4000 + 2 * 3500
    # cancel table 2 (DELETE) and a PUT with empty carts on a free table
    cancelled = ok(frontend.delete("/orders/2"))
    assert cancelled["result"] == "success" and len(cancelled["orders"]) == 1
    assert ok(frontend.get("/orders/unpaids/2")) == {"carts": []}
    assert ok(frontend.put("/orders/", {"table_no": 7, "carts": []})) == {
        "result": "failed",
        "message": "존재하지 않는 주문",
    }

    # -- payment: card and cash -------------------------------------------------------------
    card = ok(
        frontend.post("/sales/", {"table_no": 1, "payment_type": "카드", "total_price": 11000}), 201
    )
    assert card["result"] == "success" and isinstance(card["id"], int)
    wrong = frontend.post("/sales/", {"table_no": 0, "payment_type": "현금", "total_price": 1})
    assert wrong.status_code == 409 and wrong.json()["total_price"] == 6000
    assert ok(frontend.get("/orders/unpaids/0"))["total_price"] == 6000  # nothing paid
    cash = ok(
        frontend.post("/sales/", {"table_no": 0, "payment_type": "현금", "total_price": 6000}), 201
    )
    again_paid = ok(
        frontend.post("/sales/", {"table_no": 0, "payment_type": "현금", "total_price": 6000})
    )
    assert again_paid == {"result": "failed", "message": "결제 등록 실패"}
    assert ok(frontend.get("/orders/unpaids"))["orders"] == []
    sales = ok(frontend.get("/sales/"))["sales"]
    assert [(s["id"], s["total_price"], s["payment_type"]) for s in sales] == [
        (card["id"], 11000, "card"),
        (cash["id"], 6000, "cash"),
    ]

    # -- costs ----------------------------------------------------------------------------------
    costs = ok(frontend.get("/bff/costs"))
    assert costs["result"] == "success"
    for group in costs["items"]:
        for item in group["items"]:
            item["cost"] = {ramen: 1500, gimbap: 1000, cola: 800}.get(item["item_id"], item["cost"])
    saved = ok(frontend.post("/bff/costs", {"items": costs["items"]}))
    assert saved["result"] == "success"
    regrouped = ok(frontend.get("/bff/costs"))["items"]
    assert {i["item_id"]: i["cost"] for g in regrouped for i in g["items"]}[ramen] == 1500

    # -- dashboard: the day and a range -----------------------------------------------------
    day = ok(frontend.get(f"/bff/sales?start={today}&end={today}"))
    assert day["sales_volume"] == 17000
    items = {i["item_id"]: i for i in day["items"]}
    assert items[ramen]["quantity"] == 1 and items[ramen]["sales_volume"] == 4000
    assert items[gimbap]["quantity"] == 2 and items[cola]["quantity"] == 3
    assert sum(i["sales_volume"] for i in day["items"]) == 17000
    assert ok(frontend.get(f"/dashboard/sales?start={today}&end={today}")) == day
    start = (date.fromisoformat(today) - timedelta(days=3)).isoformat()
    volumes = ok(frontend.get(f"/bff/volumes?start={start}&end={today}"))
    assert [d["date"] for d in volumes["total"]][-1] == today and len(volumes["total"]) == 4
    assert (
        volumes["total"][0]["sales_volume"] == 0 and volumes["total"][-1]["sales_volume"] == 17000
    )
    assert frontend.get(f"/bff/volumes?start={today}&end={start}").status_code == 400
    summary = ok(frontend.get(f"/bff/summary?start={today}&end={today}"))
    assert ok(frontend.get(f"/dashboard/summary?start={today}&end={today}")) == summary
    # two sales of VAT items by the owner: VAT once per order, 11,000/11 + 6,000/11 half up
    assert {k: summary[k] for k in ("gross_sales", "discount_total", "refund_total")} == {
        "gross_sales": 17000,
        "discount_total": 0,
        "refund_total": 0,
    }
    assert (summary["net_sales"], summary["vat"], summary["supply_value"]) == (17000, 1545, 15455)
    assert summary["by_payment_type"] == {"card": 11000, "cash": 6000, "other": 0}
    assert summary["by_staff"] == [{"staff_id": None, "order_count": 2, "total": 17000}]
    assert (summary["order_count"], summary["average_check"]) == (2, 8500)
    assert len(summary["by_hour"]) == 24 and sum(h["total"] for h in summary["by_hour"]) == 17000
    assert frontend.get(f"/bff/summary?start={today}&end={start}").status_code == 400

    # -- consulting: the test aliases and the real paths ------------------------------------
    req_id = ok(frontend.get(f"/consulting/test?start={today}&end={today}"))["req_id"]
    wait_for(lambda: ok(frontend.get(f"/consulting/test/{req_id}"))["result"] == "success", 60)
    advice = ok(frontend.get(f"/dashboard/consulting/test/{req_id}"))
    assert advice["result"] == "success" and len(advice["consulting"]) > 20
    same = ok(frontend.get(f"/consulting/?start={today}&end={today}"))["req_id"]
    assert same == req_id  # same store, period and data: no second model call
    other = ok(frontend.post("/consulting/", {"start": start, "end": today}))["req_id"]
    assert other != req_id
    wait_for(lambda: ok(frontend.get(f"/consulting/{other}"))["result"] == "success", 60)
    assert ok(frontend.get(f"/dashboard/consulting/{other}"))["result"] == "success"

    # -- settlement text -------------------------------------------------------------------------
    before = len(read_texts())
    settled = ok(frontend.get(f"/dashboard/calculate?date={today}"))
    assert settled["result"] == "success"
    sent = read_texts()
    assert len(sent) == before + 1
    phone, text = sent[-1]
    assert phone == expected_phone
    assert text == (
        f"[Salesync] {OWNER['store_name']} {today} 매출 합계 17,000원 (결제 2건)\n"
        "순매출 17,000원 / 부가세 1,545원\n"
        "카드 11,000원 / 현금 6,000원"
    )
    repeat = ok(frontend.get(f"/dashboard/calculate?date={today}"))
    assert repeat.get("already_sent") is True
    assert len(read_texts()) == before + 1

    # -- refund leaves the day's figures ------------------------------------------------------
    refund = ok(frontend.delete(f"/sales/{cash['id']}"))
    assert refund["result"] == "success"
    assert frontend.delete(f"/sales/{cash['id']}").status_code in (404, 409)
    assert ok(frontend.get(f"/bff/sales?start={today}&end={today}"))["sales_volume"] == 11000
    refunded = ok(frontend.get(f"/bff/summary?start={today}&end={today}"))
    assert (refunded["net_sales"], refunded["refund_total"], refunded["vat"]) == (11000, 6000, 1000)
    assert refunded["by_payment_type"] == {"card": 11000, "cash": 0, "other": 0}


def test_service_stopped_mid_journey(frontend: Frontend, stack) -> None:
    created = ok(frontend.post("/stores/", {**OWNER, "username": "outage-owner"}), 201)
    frontend.token = created["token"]["access_token"]
    category = ok(frontend.post("/categories/", {"name": "메뉴"}), 201)["id"]
    item = ok(
        frontend.post(f"/categories/{category}/items", {"name": "떡볶이", "price": "5000"}), 201
    )["id"]
    ok(frontend.post("/orders/", {"table_no": 3, "carts": [{"item_id": item, "quantity": 2}]}))

    stack.stop_service("order")
    try:
        down = frontend.get("/orders/unpaids")
        assert down.status_code == 503
        assert down.json()["result"] == "failed"
        assert down.headers["Content-Type"].startswith("application/json")
        pay = frontend.post(
            "/sales/", {"table_no": 3, "payment_type": "카드", "total_price": 10000}
        )
        assert pay.status_code in (502, 503, 504)
        assert ok(frontend.get("/sales/"))["sales"] == []  # nothing recorded
        assert ok(frontend.get("/categories/items"))["categories"]  # the rest still works
    finally:
        stack.start_service("order")

    unpaid = ok(frontend.get("/orders/unpaids/3"))
    assert unpaid["total_price"] == 10000  # nothing lost
    paid = ok(
        frontend.post("/sales/", {"table_no": 3, "payment_type": "카드", "total_price": 10000}), 201
    )
    assert ok(frontend.get("/sales/"))["sales"][0]["id"] == paid["id"]
