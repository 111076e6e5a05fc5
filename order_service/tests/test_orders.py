"""Order service public contract on PostgreSQL, with the real item service behind it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from devstack.testing import auth_headers, count_queries, token_for
from order_service.app.models import Order, OrderLine, db
from salesync_common.timeutil import business_date

NO_LINES = {"result": "failed", "message": "주문 등록 실패 : 주문 내역 없음"}


def h(store_id: int, tz: str = "Asia/Seoul") -> dict[str, str]:
    return auth_headers(token_for(store_id, tz))


def state(stack) -> tuple:
    """Every order and line row: compared before/after a refused request."""
    with stack.order_app.app_context():
        orders = db.session.execute(
            select(Order.id, Order.status, Order.version, Order.total_price).order_by(Order.id)
        ).all()
        lines = db.session.execute(
            select(OrderLine.order_id, OrderLine.item_id, OrderLine.quantity).order_by(
                OrderLine.order_id, OrderLine.item_id
            )
        ).all()
        db.session.rollback()
        return orders, lines


def order_row(stack, order_id: int) -> Order:
    with stack.order_app.app_context():
        order = db.session.get(Order, order_id)
        db.session.expunge(order)
        return order


def post(client, store_id: int, table_no: Any, carts: Any, **extra: Any):
    return client.post(
        "/orders/", json={"table_no": table_no, "carts": carts, **extra}, headers=h(store_id)
    )


def put(client, store_id: int, table_no: Any, carts: Any, **extra: Any):
    return client.put(
        "/orders/", json={"table_no": table_no, "carts": carts, **extra}, headers=h(store_id)
    )


def test_order_lifecycle_contract(stack, client):
    sid = 11
    menu = stack.menu(sid, {"김밥": 3000, "라면": "4500", "🍜 우동": 6000}, {"김밥": 1000})
    kimbap, ramen, udon = menu["김밥"], menu["라면"], menu["🍜 우동"]
    assert client.get("/orders/unpaids", headers=h(sid)).json == {
        "result": "success",
        "message": "미결제 주문 목록 조회 성공",
        "store_id": str(sid),
        "orders": [],
    }
    assert client.get("/orders/unpaids/3", headers=h(sid)).json == {"carts": []}
    assert post(client, sid, 3, []).json == NO_LINES
    assert post(client, sid, 3, None).json == NO_LINES

    created = post(
        client, sid, 3, [{"item_id": kimbap, "quantity": 2}, {"item_id": ramen, "quantity": 1}]
    )
    assert created.status_code == 200
    order_id = created.json["order_id"]
    assert created.json == {
        "result": "success",
        "message": "주문 생성 성공",
        "order_id": order_id,
        "table_no": 3,
        "version": 1,
    }
    # a second POST adds to the open order (duplicates summed), never a second order
    added = post(
        client,
        sid,
        3,
        [
            {"item_id": kimbap, "quantity": 1},
            {"item_id": udon, "quantity": 1},
            {"item_id": udon, "quantity": 2},
        ],
    )
    assert added.json["order_id"] == order_id and added.json["version"] == 2
    other_table = post(client, sid, 1, [{"item_id": ramen, "quantity": 1}]).json["order_id"]

    table = client.get("/orders/unpaids/3", headers=h(sid))
    assert table.status_code == 200
    assert table.json == {
        "result": "success",
        "message": "미결제 주문 테이블 조회 성공",
        "store_id": str(sid),
        "order_id": order_id,
        "table_no": 3,
        "total_price": 3 * 3000 + 4500 + 3 * 6000,
        "carts": [
            {"item_id": kimbap, "item_name": "김밥", "quantity": 3},
            {"item_id": ramen, "item_name": "라면", "quantity": 1},
            {"item_id": udon, "item_name": "🍜 우동", "quantity": 3},
        ],
    }
    unpaids = client.get("/orders/unpaids", headers=h(sid)).json
    assert [o["table_no"] for o in unpaids["orders"]] == [1, 3]
    first = unpaids["orders"][0]
    assert first["order_id"] == other_table and first["total_price"] == 4500
    assert first["carts"] == [{"item_id": ramen, "item_name": "라면", "quantity": 1}]
    assert first["order_date"].endswith("+09:00") and "T" in first["order_date"]
    assert set(first) == {"order_id", "order_date", "table_no", "total_price", "carts"}

    replaced = put(client, sid, 3, [{"item_id": ramen, "quantity": 2}])
    assert replaced.json == {
        "result": "success",
        "message": "주문 수정 성공",
        "order_id": order_id,
        "table_no": 3,
        "version": 3,
    }
    assert client.get("/orders/unpaids/3", headers=h(sid)).json["total_price"] == 9000

    cancelled = put(client, sid, 3, [])
    assert cancelled.json == {"result": "cancelled", "message": "주문 취소 : 주문 내역 없음"}
    assert client.get("/orders/unpaids/3", headers=h(sid)).json == {"carts": []}
    assert put(client, sid, 3, None).json == {"result": "failed", "message": "존재하지 않는 주문"}
    row = order_row(stack, order_id)
    assert row.status == "cancelled" and row.cancelled_at is not None  # kept, not deleted

    reopened = put(client, sid, 3, [{"item_id": udon, "quantity": 1}])
    assert reopened.json["result"] == "success" and reopened.json["order_id"] != order_id

    deleted = client.delete("/orders/3", headers=h(sid))
    assert deleted.json == {
        "result": "success",
        "message": "주문 삭제 성공",
        "table_no": 3,
        "orders": [reopened.json["order_id"]],
    }
    assert client.delete("/orders/3", headers=h(sid)).json["orders"] == []
    assert order_row(stack, reopened.json["order_id"]).status == "cancelled"


def test_lines_snapshot_price_name_and_cost(stack, client):
    sid = 12
    menu = stack.menu(sid, {"커피": 3000}, {"커피": 800})
    coffee = menu["커피"]
    order_id = post(client, sid, 2, [{"item_id": coffee, "quantity": 2}]).json["order_id"]
    stack.item_put(sid, coffee, name="아메리카노", price=5000, cost=900)
    table = client.get("/orders/unpaids/2", headers=h(sid)).json
    assert table["total_price"] == 6000
    assert table["carts"] == [{"item_id": coffee, "item_name": "커피", "quantity": 2}]
    with stack.order_app.app_context():
        line = db.session.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id, OrderLine.item_id == coffee)
        ).one()
        assert (line.item_name, line.unit_price, line.unit_cost) == ("커피", 3000, 800)
    # a retired item already on the order may stay there through an edit (its snapshot is kept)
    stack.item_delete(sid, coffee)
    assert put(client, sid, 2, [{"item_id": coffee, "quantity": 1}]).json["result"] == "success"
    assert client.get("/orders/unpaids/2", headers=h(sid)).json["total_price"] == 3000
    # but it cannot be ordered anew
    assert post(client, sid, 2, [{"item_id": coffee, "quantity": 1}]).status_code == 422


def test_business_day_in_the_store_time_zone(stack, client):
    sid = 13
    item = stack.menu(sid, {"빵": 100})["빵"]
    response = client.post(
        "/orders/",
        json={"table_no": 1, "carts": [{"item_id": item, "quantity": 1}]},
        headers=h(sid, "America/Los_Angeles"),
    )
    order = order_row(stack, response.json["order_id"])
    assert order.business_date == business_date(order.opened_at, "America/Los_Angeles")
    listed = client.get("/orders/unpaids", headers=h(sid, "America/Los_Angeles")).json
    assert listed["orders"][0]["order_date"][-6:] in {"-08:00", "-07:00"}


def test_ownership_between_stores(stack, client):
    a, b = 21, 22
    mine = stack.menu(a, {"A메뉴": 1000})["A메뉴"]
    stack.menu(b, {"B메뉴": 1000})
    order_id = post(client, a, 5, [{"item_id": mine, "quantity": 1}]).json["order_id"]
    before = state(stack)
    # store B cannot order A's item, see A's orders, or change/cancel them
    foreign = post(client, b, 5, [{"item_id": mine, "quantity": 1}])
    assert foreign.status_code == 422
    assert f"carts.item_id={mine}" in foreign.json["error"]["fields"]
    assert put(client, b, 5, [{"item_id": mine, "quantity": 3}]).status_code == 422
    assert client.get("/orders/unpaids", headers=h(b)).json["orders"] == []
    assert client.get("/orders/unpaids/5", headers=h(b)).json == {"carts": []}
    assert client.delete("/orders/5", headers=h(b)).json["orders"] == []
    assert put(client, b, 5, []).json == {"result": "failed", "message": "존재하지 않는 주문"}
    assert state(stack) == before
    assert order_row(stack, order_id).status == "open"


def _bad_bodies(item: int, foreign: int) -> list[tuple[str, Any]]:
    ok = [{"item_id": item, "quantity": 1}]
    return [
        ("table_no string", {"table_no": "1", "carts": ok}),
        ("table_no negative", {"table_no": -1, "carts": ok}),
        ("table_no huge", {"table_no": 10_000, "carts": ok}),
        ("table_no missing", {"carts": ok}),
        ("table_no float", {"table_no": 1.5, "carts": ok}),
        ("carts object", {"table_no": 1, "carts": {"item_id": item}}),
        ("carts string", {"table_no": 1, "carts": "x"}),
        ("quantity zero", {"table_no": 1, "carts": [{"item_id": item, "quantity": 0}]}),
        ("quantity negative", {"table_no": 1, "carts": [{"item_id": item, "quantity": -2}]}),
        ("quantity huge", {"table_no": 1, "carts": [{"item_id": item, "quantity": 1000}]}),
        ("quantity string", {"table_no": 1, "carts": [{"item_id": item, "quantity": "1"}]}),
        ("quantity bool", {"table_no": 1, "carts": [{"item_id": item, "quantity": True}]}),
        ("quantity missing", {"table_no": 1, "carts": [{"item_id": item}]}),
        ("item_id string", {"table_no": 1, "carts": [{"item_id": "x", "quantity": 1}]}),
        ("item_id zero", {"table_no": 1, "carts": [{"item_id": 0, "quantity": 1}]}),
        ("item_id huge", {"table_no": 1, "carts": [{"item_id": 2**40, "quantity": 1}]}),
        ("item unknown", {"table_no": 1, "carts": [{"item_id": 987_654, "quantity": 1}]}),
        ("item foreign", {"table_no": 1, "carts": [{"item_id": foreign, "quantity": 1}]}),
        (
            "mixed known+unknown",
            {"table_no": 1, "carts": [*ok, {"item_id": 987_655, "quantity": 1}]},
        ),
        ("summed over 999", {"table_no": 1, "carts": [{"item_id": item, "quantity": 600}] * 2}),
        ("too many entries", {"table_no": 1, "carts": ok * 101}),
        ("line is a list", {"table_no": 1, "carts": [[item, 1]]}),
        ("version string", {"table_no": 1, "carts": ok, "version": "1"}),
        ("name 10KB", {"table_no": 1, "carts": [{"item_id": "가" * 10_000, "quantity": 1}]}),
    ]


@pytest.mark.parametrize("method", ["post", "put"])
def test_bad_input_is_4xx_json_and_writes_nothing(stack, client, method):
    sid = 31
    item = stack.menu(sid, {f"정상-{method}": 1000})[f"정상-{method}"]
    foreign = stack.menu(sid + 1000, {f"남의것-{method}": 1})[f"남의것-{method}"]
    # an open order on table 1 that every refused request must leave alone
    assert post(client, sid, 1, [{"item_id": item, "quantity": 998}]).status_code == 200
    before = state(stack)
    for label, body in _bad_bodies(item, foreign):
        response = getattr(client, method)("/orders/", json=body, headers=h(sid))
        assert 400 <= response.status_code < 500, (label, response.status_code)
        assert response.json["result"] == "failed" and "code" in response.json["error"], label
        assert state(stack) == before, label
    # merged with the open line it would exceed 999 (POST adds to the existing 998)
    if method == "post":
        over = post(client, sid, 1, [{"item_id": item, "quantity": 2}])
        assert over.status_code == 422 and over.json["error"]["code"] == "quantity_too_large"
    for raw in ("{bad json", "[1, 2]", ""):
        response = getattr(client, method)("/orders/", data=raw, headers=h(sid))
        assert response.status_code == 400
    assert client.post("/orders/", json={}, headers={}).status_code == 401
    for path in ("/orders/abc", "/orders/-1", "/orders/1.5", "/orders/unpaids/x"):
        response = (
            client.delete(path, headers=h(sid))
            if "unpaids" not in path
            else client.get(path, headers=h(sid))
        )
        assert response.status_code == 404 and response.json["result"] == "failed"
    assert state(stack) == before


def test_idempotency_key_replays_the_first_answer(stack, client):
    sid = 41
    item = stack.menu(sid, {"멱등": 500})["멱등"]
    headers = {**h(sid), "Idempotency-Key": "retry-1"}
    body = {"table_no": 4, "carts": [{"item_id": item, "quantity": 2}]}
    first = client.post("/orders/", json=body, headers=headers)
    again = client.post("/orders/", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert client.get("/orders/unpaids/4", headers=h(sid)).json["carts"][0]["quantity"] == 2
    reused = client.post("/orders/", json={**body, "table_no": 5}, headers=headers)
    assert reused.status_code == 422
    put_headers = {**h(sid), "Idempotency-Key": "put-1"}
    put_body = {"table_no": 4, "carts": [{"item_id": item, "quantity": 7}]}
    assert client.put("/orders/", json=put_body, headers=put_headers).status_code == 200
    replay = client.put("/orders/", json=put_body, headers=put_headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"


def test_ten_concurrent_posts_on_a_free_table(stack):
    sid = 51
    menu = stack.menu(sid, {f"동시{i}": 1000 + i for i in range(5)})
    ids = list(menu.values())
    barrier = threading.Barrier(10)
    results: list[Any] = []

    def order(n: int) -> None:
        client = stack.order_app.test_client()
        barrier.wait()
        results.append(post(client, sid, 7, [{"item_id": ids[n % 5], "quantity": 1}]))

    threads = [threading.Thread(target=order, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * 10
    assert len({r.json["order_id"] for r in results}) == 1
    assert sorted(r.json["version"] for r in results) == list(range(1, 11))
    with stack.order_app.app_context():
        orders = db.session.scalars(
            select(Order).where(Order.store_id == sid, Order.table_no == 7)
        ).all()
        assert len(orders) == 1 and orders[0].status == "open"
        lines = db.session.scalars(
            select(OrderLine).where(OrderLine.order_id == orders[0].id)
        ).all()
        assert {line.item_id: line.quantity for line in lines} == {i: 2 for i in ids}
        assert orders[0].total_price == sum(2 * (1000 + i) for i in range(5))
        db.session.rollback()


def _race_puts(stack, sid: int, carts_by_thread: list[list[dict]], **extra: Any) -> list[Any]:
    barrier = threading.Barrier(len(carts_by_thread))
    results: list[Any] = [None] * len(carts_by_thread)

    def attempt(n: int) -> None:
        client = stack.order_app.test_client()
        barrier.wait()
        results[n] = put(client, sid, 8, carts_by_thread[n], **extra)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(len(carts_by_thread))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_puts_one_wins_other_409(stack, client):
    sid = 52
    a, b = stack.menu(sid, {"피자": 10_000, "콜라": 2000}).values()
    opened = post(client, sid, 8, [{"item_id": a, "quantity": 1}]).json
    carts = [[{"item_id": a, "quantity": 2}], [{"item_id": b, "quantity": 5}]]
    results = _race_puts(stack, sid, carts, version=opened["version"])
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    winner = results.index(next(r for r in results if r.status_code == 200))
    assert loser.json["error"]["code"] == "version_conflict"
    assert loser.json["message"] == "다른 단말에서 주문이 변경되었습니다."
    assert loser.json["version"] == opened["version"] + 1
    table = client.get("/orders/unpaids/8", headers=h(sid)).json
    assert [(c["item_id"], c["quantity"]) for c in table["carts"]] == [
        (line["item_id"], line["quantity"]) for line in carts[winner]
    ]
    # a stale version is refused even without a race, and changes nothing
    before = state(stack)
    stale = put(client, sid, 8, [{"item_id": b, "quantity": 1}], version=opened["version"])
    assert stale.status_code == 409 and state(stack) == before


def test_concurrent_puts_without_version_lose_nothing_silently(stack, client):
    sid = 53
    items = list(stack.menu(sid, {f"p{i}": 100 * (i + 1) for i in range(6)}).values())
    start = post(client, sid, 8, [{"item_id": items[0], "quantity": 1}]).json["version"]
    carts = [[{"item_id": items[n], "quantity": n + 1}] for n in range(6)]
    results = _race_puts(stack, sid, carts)
    ok = [r for r in results if r.status_code == 200]
    assert ok and all(r.status_code in (200, 409) for r in results)
    # every success is its own version: no two writers both "won" over the same state
    versions = sorted(r.json["version"] for r in ok)
    assert len(set(versions)) == len(versions)
    open_order = client.get("/orders/unpaids/8", headers=h(sid)).json
    row = order_row(stack, open_order["order_id"])
    assert row.version == start + len(ok)
    last = next(r for r in ok if r.json["version"] == row.version)
    expected = carts[results.index(last)]
    assert [(c["item_id"], c["quantity"]) for c in open_order["carts"]] == [
        (line["item_id"], line["quantity"]) for line in expected
    ]


class CallCounter:
    def __init__(self, monkeypatch, app) -> None:
        self.calls: list[tuple[str, str]] = []
        client = app.extensions["salesync"].client("item")
        original = client.request

        def counting(method: str, path: str, **kwargs: Any):
            self.calls.append((method, path))
            return original(method, path, **kwargs)

        monkeypatch.setattr(client, "request", counting)


def test_one_item_call_per_write_and_none_on_listings(stack, client, monkeypatch):
    sid = 61
    ids = list(stack.menu(sid, {f"메뉴{i}": 100 + i for i in range(30)}).values())
    counter = CallCounter(monkeypatch, stack.order_app)
    post(client, sid, 1, [{"item_id": ids[0], "quantity": 1}])
    assert len(counter.calls) == 1
    post(client, sid, 2, [{"item_id": i, "quantity": 2} for i in ids])
    assert len(counter.calls) == 2
    assert counter.calls[-1] == ("GET", f"/internal/stores/{sid}/items")
    put(client, sid, 2, [{"item_id": i, "quantity": 3} for i in ids[:20]])
    assert len(counter.calls) == 3

    with stack.order_app.app_context(), count_queries(db.engine) as few:
        small = client.get("/orders/unpaids/1", headers=h(sid))
    with stack.order_app.app_context(), count_queries(db.engine) as many:
        big = client.get("/orders/unpaids/2", headers=h(sid))
    with stack.order_app.app_context(), count_queries(db.engine) as listing:
        everything = client.get("/orders/unpaids", headers=h(sid))
    assert len(small.json["carts"]) == 1 and len(big.json["carts"]) == 20
    assert len(everything.json["orders"]) == 2
    assert len(few) == len(many) == len(listing) == 1
    assert len(counter.calls) == 3  # listings never call the item service


def test_openapi_documents_the_contract_paths(client):
    paths = client.get("/openapi.json").json["paths"]
    for path in (
        "/orders/",
        "/orders/unpaids",
        "/orders/unpaids/{table_no}",
        "/orders/{table_no}",
        "/internal/stores/{store_id}/payments",
        "/internal/stores/{store_id}/orders/{order_id}",
        "/internal/stores/{store_id}/item-sales",
    ):
        assert path in paths, path
    assert set(paths["/orders/"]) == {"post", "put"}
