"""Payment, refund and totals rules with an in-memory order gateway (PostgreSQL for the sales)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from devstack.testing import auth_headers, count_queries, token_for
from sale_service.app import payments
from sale_service.app.consumer import OrderEventHandler
from sale_service.app.models import Payment, ReceiptCounter, Sale, db
from sale_service.app.sales import format_receipt_no
from salesync_common.auth import SERVICE_TOKEN_HEADER
from salesync_common.bus import Event
from salesync_common.kafka import KafkaRecord


def pay(client, store_id, table_no, total, payment_type="카드", **headers):
    return client.post(
        "/sales/",
        json={"table_no": table_no, "payment_type": payment_type, "total_price": total},
        headers={**auth_headers(token_for(store_id)), **headers},
    )


def sales_of(app, store_id):
    with app.app_context():
        rows = db.session.scalars(select(Sale).where(Sale.store_id == store_id).order_by(Sale.id))
        result = list(rows)
        db.session.commit()
        return result


def service_headers(app):
    return {SERVICE_TOKEN_HEADER: app.extensions["salesync"].tokens.token()}


def payments_of(app, store_id):
    with app.app_context():
        rows = list(db.session.scalars(select(Payment).where(Payment.store_id == store_id)))
        db.session.commit()
        return rows


def run_consumer(app, orders):
    """Hand what orders.events carries to the sale service's consumer (the broker's job): the
    batch to ``prepare`` first, then each record, as ``KafkaSubscriber`` does."""
    with app.app_context():
        handler = OrderEventHandler(db.engine)
    handler.prepare([_record(value) for value in orders.events])
    for value in orders.events:
        handler(_record(value))
    return handler


def _record(value) -> KafkaRecord:
    return KafkaRecord("orders.events", 0, int(value["seq"]), str(value["store_id"]), value)


def test_pay_records_the_server_total_and_links_the_order(app, client, orders, store):
    order = orders.open_table(store, 3, 18000)
    response = pay(client, store, 3, 18000, "카드")
    assert response.status_code == 201
    assert response.json == {
        "result": "success",
        "message": "결제 등록 성공",
        "id": response.json["id"],
    }
    [sale] = sales_of(app, store)
    assert sale.id == response.json["id"]
    assert (sale.status, sale.order_id, sale.total_price) == ("completed", order.order_id, 18000)
    assert (sale.payment_type, sale.payment_label, sale.table_no) == ("card", "카드", 3)
    assert sale.business_date.isoformat() == order.paid_business_date
    assert order.status == "paid" and order.paid_total == 18000
    [payment] = payments_of(app, store)
    assert (payment.payment_ref, payment.amount, payment.order_id) == (
        sale.payment_ref,
        18000,
        order.order_id,
    )
    # The table has no open order any more: a second payment fails cleanly.
    again = pay(client, store, 3, 18000)
    assert again.status_code == 200
    assert again.json == {"result": "failed", "message": "결제 등록 실패"}
    assert len(sales_of(app, store)) == 1


@pytest.mark.parametrize(
    ("label", "expected"),
    [("카드", "card"), ("현금", "cash"), ("card", "card"), (" CASH ", "cash"), ("상품권", "other")],
)
def test_payment_type_is_normalised(app, client, orders, store, label, expected):
    orders.open_table(store, 1, 1000)
    assert pay(client, store, 1, 1000, label).status_code == 201
    [sale] = sales_of(app, store)
    assert sale.payment_type == expected and sale.payment_label == label.strip()


def test_no_open_order_is_failed_and_writes_nothing(app, client, orders, store):
    orders.open_table(store + 10_000, 1, 1000)  # another store's table 1
    response = pay(client, store, 1, 1000)
    assert (response.status_code, response.json["result"]) == (200, "failed")
    assert response.json["message"] == "결제 등록 실패"
    assert sales_of(app, store) == [] and payments_of(app, store) == []


def test_client_total_mismatch_is_409_and_nothing_paid(app, client, orders, store):
    order = orders.open_table(store, 2, 25000)
    response = pay(client, store, 2, 24000)
    assert response.status_code == 409
    assert response.json["result"] == "failed"
    assert response.json["total_price"] == 25000
    assert response.json["message"] == payments.MISMATCH_MESSAGE
    assert sales_of(app, store) == [] and payments_of(app, store) == []
    assert (order.status, order.paid_total, orders.answers) == ("open", 0, {})
    # the right total then pays
    assert pay(client, store, 2, 25000).status_code == 201


def test_not_payable_fails_and_writes_nothing(app, client, orders, store):
    order = orders.open_table(store, 4, 3000)
    order.status = "cancelled"
    response = pay(client, store, 4, 3000)
    assert response.status_code == 200 and response.json["result"] == "failed"
    assert sales_of(app, store) == [] and payments_of(app, store) == []


def test_idempotency_key_returns_the_first_answer(app, client, orders, store):
    orders.open_table(store, 5, 9000)
    first = pay(client, store, 5, 9000, **{"Idempotency-Key": "pay-5"})
    second = pay(client, store, 5, 9000, **{"Idempotency-Key": "pay-5"})
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(sales_of(app, store)) == 1 and orders.pay_calls == 1
    # the ref is derived from the store and the key: the same key names the same payment
    [payment] = payments_of(app, store)
    assert payment.payment_ref == payments.payment_ref(store, "pay-5")
    assert payments.payment_ref(store + 1, "pay-5") != payment.payment_ref


def test_concurrent_payments_of_one_table_make_one_sale(app, orders, store):
    order = orders.open_table(store, 6, 12000)
    orders.pay_delay = 0.05  # widen the race window
    answers: list[tuple[int, dict]] = []
    barrier = threading.Barrier(10)

    def attempt():
        barrier.wait()
        response = pay(app.test_client(), store, 6, 12000)
        answers.append((response.status_code, response.json))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    successes = [body for status, body in answers if status == 201]
    failures = [body for status, body in answers if status == 200]
    assert len(successes) == 1 and len(failures) == 9
    assert all(body == {"result": "failed", "message": "결제 등록 실패"} for body in failures)
    sales = sales_of(app, store)
    assert [(s.status, s.id) for s in sales] == [("completed", successes[0]["id"])]
    assert order.paid_total == 12000 and len(payments_of(app, store)) == 1


def test_order_service_down_is_503_and_records_nothing(app, client, orders, store):
    orders.open_table(store, 1, 1000)
    orders.down = True
    response = pay(client, store, 1, 1000)
    assert response.status_code == 503
    assert response.json["result"] == "failed"
    assert response.json["error"]["code"] == "dependency_unavailable"
    assert sales_of(app, store) == [] and payments_of(app, store) == []


def test_lost_pay_answer_is_finished_by_the_retry(app, client, orders, store):
    """The order recorded the payment but its answer was lost (503): the retry finishes it."""
    order = orders.open_table(store, 7, 4000)
    orders.pay_down = True
    first = pay(client, store, 7, 4000, **{"Idempotency-Key": "k7"})
    assert first.status_code == 503
    assert sales_of(app, store) == [] and order.status == "paid"
    orders.pay_down = False
    retry = pay(client, store, 7, 4000, **{"Idempotency-Key": "k7"})
    assert retry.status_code == 201
    [sale] = sales_of(app, store)
    assert (sale.id, sale.status) == (retry.json["id"], "completed")
    assert sale.business_date.isoformat() == order.paid_business_date


def test_crash_after_the_order_recorded_it_is_repaired_by_the_consumer(
    app, client, orders, store, monkeypatch
):
    """The sale service dies after the order's answer, before its own transaction."""
    order = orders.open_table(store, 9, 6000)

    def crash(*args, **kwargs):
        raise RuntimeError("process died")

    monkeypatch.setattr(payments, "record_outcome", crash)
    first = pay(client, store, 9, 6000, "현금", **{"Idempotency-Key": "k9"})
    assert first.status_code == 500 and first.is_json
    assert sales_of(app, store) == [] and order.status == "paid"
    monkeypatch.undo()
    run_consumer(app, orders)
    run_consumer(app, orders)  # at least once: a redelivery changes nothing
    [sale] = sales_of(app, store)
    assert (sale.status, sale.total_price, sale.order_id) == ("completed", 6000, order.order_id)
    assert sale.payment_type == "cash"  # from the payment event
    assert sale.business_date.isoformat() == order.paid_business_date
    [payment] = payments_of(app, store)
    assert payment.payment_ref == sale.payment_ref == payments.payment_ref(store, "k9")
    # the retry with the same key answers that very sale
    retry = pay(client, store, 9, 6000, "현금", **{"Idempotency-Key": "k9"})
    assert retry.status_code == 201 and retry.json["id"] == sale.id
    assert len(sales_of(app, store)) == 1


def test_consumer_and_request_write_the_same_rows_once(app, client, orders, store):
    """The consumer's events for a payment the request already wrote change nothing."""
    orders.open_table(store, 10, 7000)
    response = pay(client, store, 10, 7000)
    assert response.status_code == 201
    before = [(s.id, s.status, s.total_price) for s in sales_of(app, store)]
    run_consumer(app, orders)
    assert [(s.id, s.status, s.total_price) for s in sales_of(app, store)] == before
    assert len(payments_of(app, store)) == 1


def test_the_consumer_reads_a_batch_once_and_skips_what_the_request_wrote(
    app, client, orders, store
):
    """The usual case (no crash): two queries for the whole batch, none per event."""
    for table in (21, 22, 23):
        orders.open_table(store, table, 1000 * table)
        assert pay(client, store, table, 1000 * table).status_code == 201
    events = [value for value in orders.events if value["store_id"] == store]
    assert sorted({value["type"] for value in events}) == ["paid", "payment"]
    with app.app_context():
        handler = OrderEventHandler(db.engine)
        with count_queries(db.engine) as statements:
            handler.prepare([_record(value) for value in events])
            for value in events:
                handler(_record(value))
    assert [s for s in statements if s.lstrip().upper().startswith("SELECT")] == statements
    assert len(statements) == 2  # payments by ref, sales by order
    assert len(sales_of(app, store)) == 3 and len(payments_of(app, store)) == 3


def test_a_pending_sale_of_the_previous_protocol_is_completed_by_its_paid_event(app, store):
    paid_at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    with app.app_context():
        sale = Sale(
            store_id=store,
            order_id=987_654,
            table_no=11,
            total_price=1000,
            payment_type="card",
            payment_label="카드",
            status="pending",
            business_date=date(2026, 11, 22),
            created_at=paid_at,
        )
        db.session.add(sale)
        db.session.commit()
        handler = OrderEventHandler(db.engine)
    value = {
        "event_id": "e1",
        "store_id": store,
        "seq": 1,
        "order_id": 987_654,
        "type": "paid",
        "staff_id": None,
        "data": {
            "table_no": 11,
            "payment_ref": "6a2f0b44-3c41-5d8e-9b4b-6d0e8a3f1c22",
            "legacy_sale_id": sale.id,
            "total": 1000,
            "paid_total": 1000,
            "paid_at": paid_at.isoformat(),
            "paid_business_date": "2026-11-23",
        },
        "created_at": paid_at.isoformat(),
    }
    handler(Event("orders.events", str(store), value))
    [completed] = sales_of(app, store)
    assert (completed.id, completed.status, completed.business_date) == (
        sale.id,
        "completed",
        date(2026, 11, 23),
    )


def test_pay_path_is_lean(app, client, orders, store):
    """One order call; here one message that is the whole transaction (db.WriteBatch alone: no
    BEGIN or COMMIT round trip): INSERT payment, INSERT sale, and the statement that takes the
    day's receipt counter and numbers the sale the insert created.

    A payment that settles the whole order is the order's one tender: no read of its payments.
    """
    orders.open_table(store, 14, 1000)
    with app.app_context(), count_queries(db.engine) as statements:
        assert pay(client, store, 14, 1000).status_code == 201
    assert orders.pay_calls == 1
    written = [s for s in statements if "payments" in s or "sales" in s]
    batched = [[part.split()[0:3] for part in s.split(";\n")] for s in written]
    assert batched == [
        [["INSERT", "INTO", "payments"], ["INSERT", "INTO", "sales"], ["WITH", "sale", "AS"]],
    ], written


def test_receipt_numbers_have_four_digits_at_least_and_follow_the_counter(
    app, client, orders, store
):
    """The statement that numbers a sale on PostgreSQL writes what ``format_receipt_no`` says."""
    orders.open_table(store, 21, 1000)
    assert pay(client, store, 21, 1000).status_code == 201
    [first] = sales_of(app, store)
    assert first.receipt_no == format_receipt_no(first.business_date, 1)
    assert first.receipt_no.endswith("-0001")
    with app.app_context():
        db.session.execute(
            update(ReceiptCounter).where(ReceiptCounter.store_id == store).values(last_no=9999)
        )
        db.session.commit()
    orders.open_table(store, 22, 1000)
    assert pay(client, store, 22, 1000).status_code == 201
    latest = sales_of(app, store)[-1]
    assert latest.receipt_no == format_receipt_no(latest.business_date, 10000)
    assert latest.receipt_no.endswith("-10000")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"table_no": 1, "payment_type": "카드"},
        {"table_no": "1", "payment_type": "카드", "total_price": 1000},
        {"table_no": 1, "payment_type": "카드", "total_price": -1},
        {"table_no": 1, "payment_type": "카드", "total_price": 1.5},
        {"table_no": 1, "payment_type": "", "total_price": 1000},
        {"table_no": 1, "payment_type": "x" * 51, "total_price": 1000},
        {"table_no": 10_000, "payment_type": "카드", "total_price": 1000},
        {"table_no": True, "payment_type": "카드", "total_price": 1000},
        {"table_no": 1, "payment_type": 3, "total_price": 1000},
    ],
)
def test_bad_bodies_are_422_and_write_nothing(app, client, orders, store, body):
    orders.open_table(store, 1, 1000)
    response = client.post("/sales/", json=body, headers=auth_headers(token_for(store)))
    assert response.status_code == 422 and response.json["result"] == "failed"
    assert sales_of(app, store) == [] and orders.pay_calls == 0


def test_malformed_and_unauthenticated(client, orders, store):
    headers = auth_headers(token_for(store))
    assert client.post("/sales/", data="{", headers=headers).status_code == 400
    assert client.post("/sales/", json=[1], headers=headers).status_code == 400
    assert client.post("/sales/", json={"table_no": 1}).status_code == 401
    assert client.get("/sales/").status_code == 401
    assert client.delete("/sales/1").status_code == 401


def test_list_refund_and_ownership(app, client, orders, store):
    for table, total in ((1, 1000), (2, 2000), (3, 3000)):
        orders.open_table(store, table, total)
        assert pay(client, store, table, total, "현금" if table == 2 else "카드").status_code == 201
    headers = auth_headers(token_for(store))
    listed = client.get("/sales/", headers=headers)
    assert listed.status_code == 200
    sales = listed.json["sales"]
    assert [s["total_price"] for s in sales] == [1000, 2000, 3000]
    assert [s["payment_type"] for s in sales] == ["card", "cash", "card"]
    assert all(s["sale_date"].endswith("+09:00") and not s["refunded"] for s in sales)
    first = sales[0]["id"]
    # Another store cannot see, nor refund, these sales.
    stranger = auth_headers(token_for(store + 10_000))
    assert client.get("/sales/", headers=stranger).json == {"sales": []}
    assert client.delete(f"/sales/{first}", headers=stranger).status_code == 404
    refunded = client.delete(f"/sales/{first}", headers=headers)
    assert refunded.status_code == 200
    assert refunded.json == {"result": "success", "message": "결제 취소 성공"}
    again = client.delete(f"/sales/{first}", headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_refunded"
    assert client.delete("/sales/2147483647", headers=headers).status_code == 404
    assert client.delete("/sales/2147483648", headers=headers).status_code == 404
    sales = client.get("/sales/", headers=headers).json["sales"]
    assert (sales[0]["id"], sales[0]["refunded"], sales[0]["status"]) == (first, True, "refunded")
    [row] = [s for s in sales_of(app, store) if s.id == first]
    assert row.refunded_at is not None and row.status == "completed"


def test_daily_totals_net_refunds_and_split_business_days(app, client, orders, store):
    seoul_2359 = datetime(2026, 11, 23, 14, 59, tzinfo=UTC)  # 23:59 in Seoul
    seoul_0001 = datetime(2026, 11, 23, 15, 1, tzinfo=UTC)  # 00:01 the next day in Seoul
    ids = []
    for table, (moment, total, label) in enumerate(
        [
            (seoul_2359, 10000, "카드"),
            (seoul_2359, 5000, "현금"),
            (seoul_0001, 7000, "카드"),
            (seoul_0001, 3000, "상품권"),
        ],
        start=1,
    ):
        orders.clock = moment
        orders.open_table(store, table, total)
        response = pay(client, store, table, total, label)
        assert response.status_code == 201
        ids.append(response.json["id"])
    headers = auth_headers(token_for(store))
    assert client.delete(f"/sales/{ids[1]}", headers=headers).status_code == 200
    assert client.delete(f"/sales/{ids[3]}", headers=headers).status_code == 200
    response = client.get(
        f"/internal/stores/{store}/daily-totals?start=2026-11-23&end=2026-11-24",
        headers=service_headers(app),
    )
    assert response.status_code == 200
    first_version = ("date", "sales_volume", "payments", "refunded")
    # v2 adds pricing.Figures to each day (tested in test_money.py); the first fields are as before
    totals = dict(response.json)
    days = totals.pop("days")
    assert [{key: day[key] for key in first_version} for day in days] == [
        {"date": "2026-11-23", "sales_volume": 10000, "payments": 1, "refunded": 5000},
        {"date": "2026-11-24", "sales_volume": 7000, "payments": 1, "refunded": 3000},
    ]
    assert [(day["net_sales"], day["refund_total"]) for day in days] == [
        (10000, 5000),
        (7000, 3000),
    ]
    assert totals == {
        "by_payment_type": [
            {"payment_type": "card", "sales_volume": 17000, "payments": 2},
            {"payment_type": "cash", "sales_volume": 0, "payments": 0},
            {"payment_type": "other", "sales_volume": 0, "payments": 0},
        ],
        "sales_volume": 17000,
        "payments": 2,
    }
    one_day = client.get(
        f"/internal/stores/{store}/daily-totals?start=2026-11-24&end=2026-11-24",
        headers=service_headers(app),
    ).json
    assert one_day["sales_volume"] == 7000 and [d["date"] for d in one_day["days"]] == [
        "2026-11-24"
    ]
    # The listing shows the store's local time of each sale.
    listed = client.get("/sales/", headers=headers).json["sales"]
    assert listed[0]["sale_date"] == "2026-11-23T23:59:00+09:00"
    assert listed[-1]["sale_date"] == "2026-11-24T00:01:00+09:00"


def test_daily_totals_is_internal_and_validated(app, client, store):
    path = f"/internal/stores/{store}/daily-totals"
    user = auth_headers(token_for(store))
    assert client.get(f"{path}?start=2026-11-01&end=2026-11-02", headers=user).status_code == 401
    service = service_headers(app)
    empty = client.get(f"{path}?start=2026-11-01&end=2026-11-02", headers=service)
    assert empty.status_code == 200
    assert empty.json == {"days": [], "by_payment_type": [], "sales_volume": 0, "payments": 0}
    for query in (
        "start=2026-11-02&end=2026-11-01",
        "start=2026-11-01",
        "start=2026-02-30&end=2026-03-01",
        "start=2025-01-01&end=2026-11-01",
        "start=x&end=y",
    ):
        response = client.get(f"{path}?{query}", headers=service)
        assert response.status_code == 422, query
        assert response.json["result"] == "failed"


def test_daily_totals_is_one_query_per_grouping(app, client, store):
    with app.app_context(), count_queries(db.engine) as statements:
        client.get(
            f"/internal/stores/{store}/daily-totals?start=2026-01-01&end=2026-12-31",
            headers=service_headers(app),
        )
    # per day: sales and refunds; per tender: payments and what refunds gave back to each
    assert len([s for s in statements if "GROUP BY" in s]) == 4
