"""Payments against the real order and item services over HTTP (PostgreSQL, served apps).

The sale service is served on a real port too, so concurrent payments are concurrent HTTP
requests through three services.
"""

from __future__ import annotations

import threading

import requests
from sqlalchemy import select

from devstack.testing import free_port
from order_service.app.events import event_value
from order_service.app.models import OrderEvent
from order_service.app.models import db as order_db
from sale_service.app import payments
from sale_service.app.consumer import OrderEventHandler
from sale_service.app.models import Payment, Sale, db
from salesync_common.bus import Event
from salesync_common.http import ServiceClient

from .served import h, menu_item, open_order, order_state, service_headers


def pay(url, store_id, table_no, total, payment_type="카드", **headers):
    return requests.post(
        f"{url}/sales/",
        json={"table_no": table_no, "payment_type": payment_type, "total_price": total},
        headers={**h(store_id), **headers},
        timeout=30,
    )


def sales_of(stack, store_id):
    with stack.sale_app.app_context():
        rows = list(db.session.scalars(select(Sale).where(Sale.store_id == store_id)))
        db.session.commit()
        return rows


def deliver_order_events(stack, store_id):
    """Hand the store's order_events rows to the sale consumer (what the relay + Kafka do)."""
    with stack.order_app.app_context():
        rows = list(
            order_db.session.scalars(
                select(OrderEvent).where(OrderEvent.store_id == store_id).order_by(OrderEvent.seq)
            )
        )
        order_db.session.commit()
    with stack.sale_app.app_context():
        handler = OrderEventHandler(db.engine)
    for row in rows:
        handler(Event("orders.events", str(store_id), event_value(row)))
    return len(rows)


class CallCounter:
    """Every call one service makes to another in this process, as (callee, method, path)."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, str, str]] = []
        real = ServiceClient.request

        def counted(client, method, path, **kwargs):
            self.calls.append((client.name, method.upper(), path))
            return real(client, method, path, **kwargs)

        monkeypatch.setattr(ServiceClient, "request", counted)


def test_pay_checks_out_the_open_order(stack, store):
    item = menu_item(stack, store, 4500)
    order_id = open_order(stack, store, 3, item, 2)
    response = pay(stack.sale.url, store, 3, 9000, "현금")
    assert response.status_code == 201, response.text
    sale_id = response.json()["id"]
    assert response.json() == {"result": "success", "message": "결제 등록 성공", "id": sale_id}
    state = order_state(stack, store, order_id)
    assert (state["status"], state["paid_total"], state["balance"]) == ("paid", 9000, 0)
    [sale] = sales_of(stack, store)
    assert (sale.id, sale.status, sale.order_id, sale.total_price) == (
        sale_id,
        "completed",
        order_id,
        9000,
    )
    assert sale.payment_type == "cash"
    assert sale.business_date.isoformat() == state["paid_business_date"]
    table = requests.get(f"{stack.order.url}/orders/unpaids/3", headers=h(store), timeout=10)
    assert table.json() == {"carts": []}
    listed = requests.get(f"{stack.sale.url}/sales/", headers=h(store), timeout=10).json()
    assert [(s["id"], s["total_price"], s["payment_type"]) for s in listed["sales"]] == [
        (sale_id, 9000, "cash")
    ]
    # Nothing open any more: a second payment is a clean failure.
    again = pay(stack.sale.url, store, 3, 9000)
    assert again.status_code == 200 and again.json()["result"] == "failed"


def test_a_payment_is_one_order_call_and_no_item_call(stack, store, monkeypatch):
    item = menu_item(stack, store, 3000)
    open_order(stack, store, 9, item, 1)
    counter = CallCounter(monkeypatch)
    assert pay(stack.sale.url, store, 9, 3000).status_code == 201
    assert counter.calls == [("order", "POST", f"/internal/stores/{store}/payments")]


def test_ten_concurrent_payments_make_one_sale(stack, store):
    item = menu_item(stack, store, 1000)
    order_id = open_order(stack, store, 5, item, 7)
    barrier = threading.Barrier(10)
    answers = []

    def attempt():
        barrier.wait()
        response = pay(stack.sale.url, store, 5, 7000)
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    successes = [body for status, body in answers if status == 201]
    failures = [body for status, body in answers if status == 200]
    assert len(successes) == 1, answers
    assert failures == [{"result": "failed", "message": "결제 등록 실패"}] * 9
    sales = sales_of(stack, store)
    assert [(s.status, s.id) for s in sales] == [("completed", successes[0]["id"])]
    assert order_state(stack, store, order_id)["paid_total"] == 7000


def test_same_idempotency_key_same_answer_one_sale(stack, store):
    item = menu_item(stack, store, 2000)
    open_order(stack, store, 1, item, 1)
    first = pay(stack.sale.url, store, 1, 2000, **{"Idempotency-Key": "pay-once"})
    second = pay(stack.sale.url, store, 1, 2000, **{"Idempotency-Key": "pay-once"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(sales_of(stack, store)) == 1


def test_total_mismatch_is_409_and_nothing_paid(stack, store):
    item = menu_item(stack, store, 3000)
    order_id = open_order(stack, store, 2, item, 2)
    response = pay(stack.sale.url, store, 2, 5000)
    assert response.status_code == 409
    assert response.json()["total_price"] == 6000 and response.json()["result"] == "failed"
    state = order_state(stack, store, order_id)
    assert (state["status"], state["paid_total"]) == ("open", 0)
    assert sales_of(stack, store) == []


def test_crash_between_order_and_sale_is_repaired_by_the_consumer(stack, store, monkeypatch):
    item = menu_item(stack, store, 5000)
    order_id = open_order(stack, store, 4, item, 1)

    def crash(*args, **kwargs):
        raise RuntimeError("sale service died before writing its rows")

    monkeypatch.setattr(payments, "record_outcome", crash)
    first = pay(stack.sale.url, store, 4, 5000, **{"Idempotency-Key": "crash-4"})
    assert first.status_code == 500
    assert sales_of(stack, store) == []
    assert order_state(stack, store, order_id)["status"] == "paid"
    monkeypatch.undo()
    assert deliver_order_events(stack, store) == 4  # opened, lines_changed, payment, paid
    deliver_order_events(stack, store)  # redelivered: nothing changes
    [sale] = sales_of(stack, store)
    state = order_state(stack, store, order_id)
    assert (sale.status, sale.order_id, sale.total_price) == ("completed", order_id, 5000)
    assert sale.business_date.isoformat() == state["paid_business_date"]
    retry = pay(stack.sale.url, store, 4, 5000, **{"Idempotency-Key": "crash-4"})
    assert retry.status_code == 201 and retry.json()["id"] == sale.id
    assert len(sales_of(stack, store)) == 1


def test_order_service_down_is_503_and_nothing_recorded(service_app, store):
    app = service_app("sale_service", order_service_url=f"http://127.0.0.1:{free_port()}")
    response = app.test_client().post(
        "/sales/",
        json={"table_no": 1, "payment_type": "카드", "total_price": 1000},
        headers=h(store),
    )
    assert response.status_code == 503
    assert response.json["result"] == "failed"
    assert response.json["error"]["code"] == "dependency_unavailable"
    with app.app_context():
        assert db.session.scalars(select(Sale).where(Sale.store_id == store)).all() == []
        assert db.session.scalars(select(Payment).where(Payment.store_id == store)).all() == []


def test_refund_nets_out_of_the_daily_totals(stack, store):
    item = menu_item(stack, store, 1000)
    ids = []
    for table, quantity, label in ((1, 3, "카드"), (2, 5, "현금")):
        open_order(stack, store, table, item, quantity)
        response = pay(stack.sale.url, store, table, quantity * 1000, label)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    refund = requests.delete(f"{stack.sale.url}/sales/{ids[1]}", headers=h(store), timeout=10)
    assert refund.status_code == 200 and refund.json()["result"] == "success"
    again = requests.delete(f"{stack.sale.url}/sales/{ids[1]}", headers=h(store), timeout=10)
    assert again.status_code == 409
    day = sales_of(stack, store)[0].business_date.isoformat()
    totals = requests.get(
        f"{stack.sale.url}/internal/stores/{store}/daily-totals?start={day}&end={day}",
        headers=service_headers(stack),
        timeout=10,
    ).json()
    [totals_of_day] = totals["days"]
    first_version = ("date", "sales_volume", "payments", "refunded")
    assert {key: totals_of_day[key] for key in first_version} == {
        "date": day,
        "sales_volume": 3000,
        "payments": 1,
        "refunded": 5000,
    }
    assert (totals_of_day["net_sales"], totals_of_day["vat"]) == (3000, 273)
    assert (totals["sales_volume"], totals["payments"]) == (3000, 1)
    assert totals["by_payment_type"] == [
        {"payment_type": "card", "sales_volume": 3000, "payments": 1},
        {"payment_type": "cash", "sales_volume": 0, "payments": 0},
    ]
