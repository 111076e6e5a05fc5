"""Order service internal endpoints: payments (exactly once, ledger), status, item-sales."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from devstack.testing import auth_headers, count_queries, new_store_id, token_for
from order_service.app.models import Order, OrderEvent, OrderLine, OrderPayment, db
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


def pay(
    client,
    stack,
    sid: int,
    *,
    ref: str | None = None,
    table_no: int | None = None,
    order_id: int | None = None,
    amount: int | None = None,
    expected_total: int | None = None,
    payment_type: str = "card",
    tz: str | None = None,
):
    query = f"?tz={tz}" if tz else ""
    body: dict[str, Any] = {"payment_ref": ref or str(uuid.uuid4()), "payment_type": payment_type}
    for name, value in (
        ("table_no", table_no),
        ("order_id", order_id),
        ("amount", amount),
        ("expected_total", expected_total),
    ):
        if value is not None:
            body[name] = value
    return client.post(f"/internal/stores/{sid}/payments{query}", json=body, headers=svc(stack))


def order_events(stack, order_id: int) -> list[OrderEvent]:
    with stack.order_app.app_context():
        rows = list(
            db.session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq)
            )
        )
        db.session.commit()  # (expire_on_commit is off: the rows stay readable)
        return rows


def payments_of(stack, order_id: int) -> list[OrderPayment]:
    with stack.order_app.app_context():
        rows = list(
            db.session.scalars(select(OrderPayment).where(OrderPayment.order_id == order_id))
        )
        db.session.commit()  # (expire_on_commit is off: the rows stay readable)
        return rows


V1_STATUS_FIELDS = (
    "order_id",
    "table_no",
    "status",
    "version",
    "total_price",
    "paid_total",
    "balance",
    "paid_business_date",
)


def test_status(stack, client):
    sid = 71
    menu = stack.menu(sid, {"돈까스": 9000, "쫄면": 7000})
    order_id = open_table(
        client,
        sid,
        4,
        [{"item_id": menu["돈까스"], "quantity": 2}, {"item_id": menu["쫄면"], "quantity": 1}],
    )
    path = f"/internal/stores/{sid}/orders/{order_id}"
    # user tokens never reach internal endpoints; other stores see nothing
    assert client.get(path, headers=auth_headers(token_for(sid))).status_code == 401
    # v2: the whole detail (the public GET /orders/<order_id>); the first version's fields stay
    body = client.get(path, headers=svc(stack)).json
    public = client.get(f"/orders/{order_id}", headers=auth_headers(token_for(sid))).json
    assert body == {**public, "total_price": public["total"]}
    assert {key: body[key] for key in V1_STATUS_FIELDS} == {
        "order_id": order_id,
        "table_no": 4,
        "status": "open",
        "version": 1,
        "total_price": 25_000,
        "paid_total": 0,
        "balance": 25_000,
        "paid_business_date": None,
    }
    assert (
        client.get(f"/internal/stores/{sid + 1}/orders/{order_id}", headers=svc(stack)).status_code
        == 404
    )


def test_payment_exactly_once(stack, client):
    sid = 72
    menu = stack.menu(sid, {"냉면": 8000, "만두": 5000}, {"냉면": 2000, "만두": 1000})
    order_id = open_table(
        client,
        sid,
        2,
        [{"item_id": menu["냉면"], "quantity": 1}, {"item_id": menu["만두"], "quantity": 2}],
    )
    # the cost in the read model when paid is snapshotted; a retired item keeps its last cost
    stack.item_put(sid, menu["냉면"], name="냉면", price=9999, cost=2500)
    stack.item_delete(sid, menu["만두"])
    assert stack.deliver_menu_events() >= 2

    changed = pay(client, stack, sid, table_no=2, expected_total=17_999)
    assert changed.status_code == 409
    assert (changed.json["error"]["code"], changed.json["total_price"]) == ("total_changed", 18_000)
    too_much = pay(client, stack, sid, order_id=order_id, amount=18_001)
    assert too_much.status_code == 409
    assert too_much.json["error"]["code"] == "amount_exceeds_balance"
    status = client.get(f"/internal/stores/{sid}/orders/{order_id}", headers=svc(stack)).json
    assert (status["status"], status["paid_total"]) == ("open", 0)
    assert payments_of(stack, order_id) == []
    assert [e.type for e in order_events(stack, order_id)] == ["opened", "lines_changed"]

    ref = str(uuid.uuid4())
    paid = pay(
        client, stack, sid, ref=ref, table_no=2, expected_total=18_000, tz="America/New_York"
    )
    assert paid.status_code == 200, paid.json
    body = paid.json
    assert {k: v for k, v in body.items() if k not in ("paid_at", "paid_business_date")} == {
        "order_id": order_id,
        "table_no": 2,
        "payment_ref": ref,
        "amount": 18_000,
        "total": 18_000,
        "paid_total": 18_000,
        "balance": 0,
        "status": "paid",
        # v2: the order's figures at this payment (18,000 VAT included: 1,636 VAT)
        "pricing": {
            "subtotal": 18_000,
            "discount_total": 0,
            "total": 18_000,
            "taxable_total": 18_000,
            "vat": 1_636,
            "supply_value": 16_364,
            "exempt_total": 0,
        },
    }
    assert body["paid_at"][-6:] in {"-05:00", "-04:00"}
    with stack.order_app.app_context():
        order = db.session.get(Order, order_id)
        assert order.paid_business_date == business_date(order.paid_at, "America/New_York")
        assert body["paid_business_date"] == order.paid_business_date.isoformat()
        costs = {
            line.item_id: line.unit_cost
            for line in db.session.query(OrderLine).filter_by(order_id=order_id)
        }
        assert costs == {menu["냉면"]: 2500, menu["만두"]: 1000}
        db.session.rollback()
    # the same ref again answers what was recorded; nothing more is written
    again = pay(client, stack, sid, ref=ref, table_no=2, tz="America/New_York")
    assert (again.status_code, again.json) == (200, body)
    assert len(payments_of(stack, order_id)) == 1
    events = order_events(stack, order_id)
    assert [e.type for e in events] == ["opened", "lines_changed", "payment", "paid"]
    payment_data, paid_data = (json.loads(e.data) for e in events[2:])
    assert payment_data["payment_ref"] == paid_data["payment_ref"] == ref
    assert (payment_data["amount"], payment_data["balance"], paid_data["total"]) == (
        18_000,
        0,
        18_000,
    )
    # another payment: no open order on the table any more, and the order is not payable
    free = pay(client, stack, sid, table_no=2)
    assert (free.status_code, free.json["error"]["code"]) == (404, "no_open_order")
    other = pay(client, stack, sid, order_id=order_id)
    assert (other.status_code, other.json["error"]["code"]) == (409, "not_payable")
    assert pay(client, stack, sid + 1, order_id=order_id).status_code == 404
    cancelled = open_table(client, sid, 3, [{"item_id": menu["냉면"], "quantity": 1}])
    client.delete("/orders/3", headers=auth_headers(token_for(sid)))
    refused = pay(client, stack, sid, order_id=cancelled)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "not_payable"
    good = {"payment_ref": str(uuid.uuid4()), "payment_type": "card", "order_id": cancelled}
    for bad in (
        {**good, "payment_ref": "not-a-uuid"},
        {**good, "table_no": 3},  # both targets
        {k: v for k, v in good.items() if k != "order_id"},  # no target
        {**good, "amount": 0},
        {**good, "amount": "100"},
        {**good, "payment_type": "카드"},
        {**good, "expected_total": -1},
    ):
        response = client.post(f"/internal/stores/{sid}/payments", json=bad, headers=svc(stack))
        assert response.status_code == 422, bad


def test_partial_payments_until_the_balance_is_zero(stack, client):
    sid = 76
    item = stack.menu(sid, {"전골": 30_000})["전골"]
    order_id = open_table(client, sid, 5, [{"item_id": item, "quantity": 1}])
    first_ref = str(uuid.uuid4())
    first = pay(client, stack, sid, ref=first_ref, table_no=5, amount=12_000, payment_type="cash")
    assert first.status_code == 200
    assert {k: first.json[k] for k in ("amount", "paid_total", "balance", "status")} == {
        "amount": 12_000,
        "paid_total": 12_000,
        "balance": 18_000,
        "status": "open",
    }
    assert first.json["paid_at"] is None
    # its retry while the order is still open and payable: the writes meet the recorded
    # payment_ref (unique), roll back, and the answer recorded the first time is replayed
    again = pay(client, stack, sid, ref=first_ref, table_no=5, amount=12_000, payment_type="cash")
    assert (again.status_code, again.json) == (200, first.json)
    assert [p.amount for p in payments_of(stack, order_id)] == [12_000]
    assert [e.type for e in order_events(stack, order_id)][2:] == ["payment"]
    assert pay(client, stack, sid, table_no=5, amount=18_001).status_code == 409
    rest = pay(client, stack, sid, table_no=5)  # null amount: the whole balance
    assert rest.status_code == 200
    assert (rest.json["amount"], rest.json["balance"], rest.json["status"]) == (18_000, 0, "paid")
    assert sorted(p.amount for p in payments_of(stack, order_id)) == [12_000, 18_000]
    assert [e.type for e in order_events(stack, order_id)][2:] == ["payment", "payment", "paid"]


def test_settling_payment_round_trips(stack, client):
    """The settling payment: lock the order, read its lines with the model's costs and its
    discounts, then every write in one round trip on PostgreSQL (db.WriteBatch): the payment
    row, the order, its lines' frozen costs, the three daily rollups and the two events. No
    read of the payment_ref first: a replay the order would accept fails on its uniqueness."""
    sid = new_store_id()
    item = stack.menu(sid, {"국밥": 9000}, {"국밥": 4000})["국밥"]
    stack.deliver_menu_events()
    open_table(client, sid, 1, [{"item_id": item, "quantity": 2}])
    with stack.order_app.app_context(), count_queries(db.engine) as statements:
        assert pay(client, stack, sid, table_no=1, expected_total=18_000).status_code == 200
    sent = [s.strip() for s in statements if s.strip().upper() not in ("BEGIN", "COMMIT")]
    first_words = [[" ".join(part.split()[:3]) for part in s.split(";\n")] for s in sent]
    assert [words[0] for words in first_words[:3]] == [
        "SELECT orders.id, orders.store_id,",
        "SELECT order_lines.id, order_lines.order_id,",
        "SELECT order_discounts.id, order_discounts.order_id,",
    ], first_words
    assert first_words[3:] == [
        [
            "INSERT INTO order_payments",
            "UPDATE orders SET",
            "UPDATE order_lines SET",
            "WITH items AS",
            "WITH reserved AS",
        ]
    ], first_words


def test_concurrent_payments_of_one_table(stack, client):
    sid = 73
    item = stack.menu(sid, {"비빔밥": 9000})["비빔밥"]
    order_id = open_table(client, sid, 1, [{"item_id": item, "quantity": 1}])
    same_ref = str(uuid.uuid4())
    barrier = threading.Barrier(8)
    results: list[Any] = [None] * 8

    def attempt(n: int) -> None:
        local = stack.order_app.test_client()
        barrier.wait()
        # two of them retry the same payment; six are other terminals paying the same table
        results[n] = pay(local, stack, sid, ref=same_ref if n < 2 else None, table_no=1)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    succeeded = [r.json for r in results if r.status_code == 200]
    refused = [r.json["error"]["code"] for r in results if r.status_code != 200]
    [payment] = payments_of(stack, order_id)
    assert all(body == succeeded[0] for body in succeeded)
    assert succeeded[0]["payment_ref"] == payment.payment_ref and succeeded[0]["status"] == "paid"
    if payment.payment_ref == same_ref:
        assert len(succeeded) == 2 and refused == ["no_open_order"] * 6
    else:
        assert len(succeeded) == 1 and refused == ["no_open_order"] * 7
    assert [e.type for e in order_events(stack, order_id)] == [
        "opened",
        "lines_changed",
        "payment",
        "paid",
    ]


def test_item_sales_aggregates_in_one_query(stack, client):
    sid = 74
    menu = stack.menu(sid, {"치킨": 20_000, "맥주": 5000}, {"치킨": 8000})
    chicken, beer = menu["치킨"], menu["맥주"]
    first = open_table(
        client, sid, 1, [{"item_id": chicken, "quantity": 2}, {"item_id": beer, "quantity": 3}]
    )
    assert pay(client, stack, sid, order_id=first, expected_total=55_000).status_code == 200
    stack.item_put(sid, chicken, name="후라이드", price=21_000)
    open_table(client, sid, 2, [{"item_id": chicken, "quantity": 1}])
    assert pay(client, stack, sid, table_no=2, expected_total=21_000).status_code == 200
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
        "gross": 61_000,  # v2: no discount, so sales_volume = gross
        "discount": 0,
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
    from order_service.app import daily_sales
    from order_service.app.models import DailyItemSales

    sid = 75
    menu = stack.menu(sid, {"짜장": 7000, "짬뽕": 8000}, {"짜장": 2500})
    jjajang, jjamppong = menu["짜장"], menu["짬뽕"]
    for table, carts in enumerate(
        [
            [{"item_id": jjajang, "quantity": 2}, {"item_id": jjamppong, "quantity": 1}],
            [{"item_id": jjamppong, "quantity": 3}],
            [{"item_id": jjajang, "quantity": 1}],
        ],
        start=1,
    ):
        order_id = open_table(client, sid, table, carts)
        total = sum(c["quantity"] * (7000 if c["item_id"] == jjajang else 8000) for c in carts)
        assert pay(client, stack, sid, order_id=order_id, expected_total=total).status_code == 200

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
        daily_sales.rebuild(db.session(), sid)
        db.session.commit()
        assert snapshot() == kept
