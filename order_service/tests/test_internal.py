"""Order service internal endpoints: open-order, pay (exactly once), status, item-sales."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

from devstack.testing import auth_headers, count_queries, token_for
from order_service.app.models import Order, OrderLine, db
from salesync_common.timeutil import business_date, utcnow


def svc(stack) -> dict[str, str]:
    return {"X-Service-Token": stack.order_app.extensions["salesync"].tokens.token()}


def open_table(client, sid: int, table_no: int, carts: list[dict[str, int]]) -> int:
    response = client.post(
        "/orders/",
        json={"table_no": table_no, "carts": carts},
        headers=auth_headers(token_for(sid)),
    )
    assert response.status_code == 200, response.json
    return response.json["order_id"]


def pay(client, stack, sid: int, order_id: int, sale_id: int, total: int, tz: str | None = None):
    query = f"?tz={tz}" if tz else ""
    return client.post(
        f"/internal/stores/{sid}/orders/{order_id}/pay{query}",
        json={"sale_id": sale_id, "total_price": total},
        headers=svc(stack),
    )


def test_open_order_and_status(stack, client):
    sid = 71
    menu = stack.menu(sid, {"돈까스": 9000, "쫄면": 7000})
    path = f"/internal/stores/{sid}/tables/4/open-order"
    assert client.get(path, headers=svc(stack)).json == {"order": None}
    order_id = open_table(
        client,
        sid,
        4,
        [{"item_id": menu["돈까스"], "quantity": 2}, {"item_id": menu["쫄면"], "quantity": 1}],
    )
    assert client.get(path, headers=svc(stack)).json == {
        "order": {
            "order_id": order_id,
            "version": 1,
            "table_no": 4,
            "total_price": 25_000,
            "lines": [
                {
                    "item_id": menu["돈까스"],
                    "item_name": "돈까스",
                    "quantity": 2,
                    "unit_price": 9000,
                },
                {"item_id": menu["쫄면"], "item_name": "쫄면", "quantity": 1, "unit_price": 7000},
            ],
        }
    }
    # user tokens never reach internal endpoints; other stores see nothing
    assert client.get(path, headers=auth_headers(token_for(sid))).status_code == 401
    assert client.get(
        f"/internal/stores/{sid + 1}/tables/4/open-order", headers=svc(stack)
    ).json == {"order": None}
    status = client.get(f"/internal/stores/{sid}/orders/{order_id}", headers=svc(stack))
    assert status.json == {
        "order_id": order_id,
        "status": "open",
        "paid_sale_id": None,
        "total_price": 25_000,
        "paid_business_date": None,
    }
    assert (
        client.get(f"/internal/stores/{sid + 1}/orders/{order_id}", headers=svc(stack)).status_code
        == 404
    )


def test_pay_exactly_once(stack, client):
    sid = 72
    menu = stack.menu(sid, {"냉면": 8000, "만두": 5000}, {"냉면": 2000, "만두": 1000})
    order_id = open_table(
        client,
        sid,
        2,
        [{"item_id": menu["냉면"], "quantity": 1}, {"item_id": menu["만두"], "quantity": 2}],
    )
    # the cost in effect when paid is snapshotted; a retired item keeps its earlier snapshot
    stack.item_put(sid, menu["냉면"], name="냉면", price=9999, cost=2500)
    stack.item_delete(sid, menu["만두"])

    changed = pay(client, stack, sid, order_id, 900, 17_999)
    assert changed.status_code == 409
    assert (
        changed.json["error"]["code"] == "total_changed" and changed.json["total_price"] == 18_000
    )
    assert (
        client.get(f"/internal/stores/{sid}/orders/{order_id}", headers=svc(stack)).json["status"]
        == "open"
    )

    paid = pay(client, stack, sid, order_id, 900, 18_000, tz="America/New_York")
    assert paid.status_code == 200
    body = paid.json
    assert body["order_id"] == order_id and body["status"] == "paid" and body["paid_sale_id"] == 900
    assert body["total_price"] == 18_000
    assert body["paid_at"][-6:] in {"-05:00", "-04:00"}
    with stack.order_app.app_context():
        order = db.session.get(Order, order_id)
        assert order.paid_business_date == business_date(order.paid_at, "America/New_York")
        costs = {
            line.item_id: line.unit_cost
            for line in db.session.query(OrderLine).filter_by(order_id=order_id)
        }
        assert costs == {menu["냉면"]: 2500, menu["만두"]: 1000}
        db.session.rollback()
    # the same sale again is a no-op with the same answer; another sale is refused
    assert pay(client, stack, sid, order_id, 900, 18_000, tz="America/New_York").json == body
    other = pay(client, stack, sid, order_id, 901, 18_000)
    assert other.status_code == 409 and other.json["error"]["code"] == "not_payable"
    # the table is free again
    assert client.get(f"/internal/stores/{sid}/tables/2/open-order", headers=svc(stack)).json == {
        "order": None
    }
    # unknown / foreign order, cancelled order, bad body
    assert pay(client, stack, sid + 1, order_id, 902, 18_000).status_code == 404
    cancelled = open_table(client, sid, 3, [{"item_id": menu["냉면"], "quantity": 1}])
    client.delete("/orders/3", headers=auth_headers(token_for(sid)))
    refused = pay(client, stack, sid, cancelled, 903, 9999)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "not_payable"
    for bad in (
        {"sale_id": "1", "total_price": 1},
        {"sale_id": 1},
        {"sale_id": 0, "total_price": 1},
    ):
        response = client.post(
            f"/internal/stores/{sid}/orders/{cancelled}/pay", json=bad, headers=svc(stack)
        )
        assert response.status_code == 422


def test_concurrent_pays_one_sale(stack, client):
    sid = 73
    item = stack.menu(sid, {"비빔밥": 9000})["비빔밥"]
    order_id = open_table(client, sid, 1, [{"item_id": item, "quantity": 1}])
    barrier = threading.Barrier(6)
    results: list[Any] = [None] * 6

    def attempt(n: int) -> None:
        local = stack.order_app.test_client()
        barrier.wait()
        results[n] = pay(local, stack, sid, order_id, 1000 + n, 9000)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [409] * 5
    winner = next(r for r in results if r.status_code == 200).json["paid_sale_id"]
    with stack.order_app.app_context():
        assert db.session.get(Order, order_id).paid_sale_id == winner
        db.session.rollback()


def test_item_sales_aggregates_in_one_query(stack, client):
    sid = 74
    menu = stack.menu(sid, {"치킨": 20_000, "맥주": 5000}, {"치킨": 8000})
    chicken, beer = menu["치킨"], menu["맥주"]
    first = open_table(
        client, sid, 1, [{"item_id": chicken, "quantity": 2}, {"item_id": beer, "quantity": 3}]
    )
    assert pay(client, stack, sid, first, 5001, 55_000).status_code == 200
    stack.item_put(sid, chicken, name="후라이드", price=21_000)
    second = open_table(client, sid, 2, [{"item_id": chicken, "quantity": 1}])
    assert pay(client, stack, sid, second, 5002, 21_000).status_code == 200
    open_table(client, sid, 3, [{"item_id": beer, "quantity": 9}])  # open: not in the report
    today = business_date(utcnow())
    query = f"start={today - timedelta(days=1)}&end={today}"
    with stack.order_app.app_context(), count_queries(db.engine) as statements:
        response = client.get(f"/internal/stores/{sid}/item-sales?{query}", headers=svc(stack))
    assert response.status_code == 200 and len(statements) == 1
    rows = {row["item_id"]: row for row in response.json["rows"]}
    assert rows[chicken] == {
        "date": today.isoformat(),
        "item_id": chicken,
        "item_name": "후라이드",
        "quantity": 3,
        "sales_volume": 61_000,
        "cost_total": 24_000,
        "uncosted_quantity": 0,
        "uncosted_first_paid_at": None,
    }
    assert rows[beer]["quantity"] == 3 and rows[beer]["sales_volume"] == 15_000
    assert rows[beer]["cost_total"] == 0 and rows[beer]["uncosted_quantity"] == 3
    assert rows[beer]["uncosted_first_paid_at"].endswith("+00:00")
    # other stores and other days see nothing
    empty = client.get(f"/internal/stores/{sid + 1}/item-sales?{query}", headers=svc(stack))
    assert empty.json == {"rows": []}
    past = date(2020, 1, 1)
    assert client.get(
        f"/internal/stores/{sid}/item-sales?start={past}&end={past}", headers=svc(stack)
    ).json == {"rows": []}
    for bad in (
        "start=2026-13-01&end=2026-01-01",
        "start=x&end=y",
        "start=2026-02-02&end=2026-02-01",
        "",
    ):
        assert (
            client.get(f"/internal/stores/{sid}/item-sales?{bad}", headers=svc(stack)).status_code
            == 422
        )


def test_daily_rows_kept_at_payment_match_a_rebuild_from_orders(stack, client):
    """The rows ``pay`` maintains equal the same totals recomputed from the orders themselves."""
    from order_service.app import rollup
    from order_service.app.models import DailyItemSales

    sid = 75
    menu = stack.menu(sid, {"짜장": 7000, "짬뽕": 8000}, {"짜장": 2500})
    jjajang, jjamppong = menu["짜장"], menu["짬뽕"]
    for table, (sale_id, carts) in enumerate(
        [
            (6001, [{"item_id": jjajang, "quantity": 2}, {"item_id": jjamppong, "quantity": 1}]),
            (6002, [{"item_id": jjamppong, "quantity": 3}]),
            (6003, [{"item_id": jjajang, "quantity": 1}]),
        ],
        start=1,
    ):
        order_id = open_table(client, sid, table, carts)
        total = sum(c["quantity"] * (7000 if c["item_id"] == jjajang else 8000) for c in carts)
        assert pay(client, stack, sid, order_id, sale_id, total).status_code == 200

    def snapshot() -> list[tuple]:
        rows = db.session.scalars(
            db.select(DailyItemSales)
            .where(DailyItemSales.store_id == sid)
            .order_by(DailyItemSales.item_id)
        )
        return [
            (
                r.business_date,
                r.item_id,
                r.item_name,
                r.quantity,
                r.sales_volume,
                r.cost_total,
                r.uncosted_quantity,
                r.uncosted_first_paid_at,
                r.last_paid_at,
            )
            for r in rows
        ]

    with stack.order_app.app_context():
        kept = snapshot()
        assert [(row[1], row[3], row[4], row[5], row[6]) for row in kept] == [
            (jjajang, 3, 21_000, 7500, 0),
            (jjamppong, 4, 32_000, 0, 4),
        ]
        rollup.rebuild(db.session, sid)
        db.session.commit()
        assert snapshot() == kept
