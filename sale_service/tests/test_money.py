"""v2 money at the till with in-memory order and store gateways (PostgreSQL for the sale tables):
split payments, change, card masking, exactly once, refunds' VAT to the won, receipts, totals."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from devstack.testing import auth_headers, staff_token_for, token_for
from sale_service.app.consumer import OrderEventHandler
from sale_service.app.models import Payment, Refund, Sale, db
from salesync_common import pricing
from salesync_common.auth import SERVICE_TOKEN_HEADER
from salesync_common.bus import Event

APPROVAL = "30125678"


def card(approval_no=APPROVAL):
    return {"approval_no": approval_no, "issuer": "신한", "installment_months": 3}


def pay(client, store_id, body, key=None, token=None):
    headers = auth_headers(token or token_for(store_id))
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/sales/payments", json=body, headers=headers)


def rows(app, model, **where):
    with app.app_context():
        query = select(model).filter_by(**where)
        found = list(db.session.scalars(query))
        db.session.commit()
        return found


def mixed_order(orders, store_id, table_no=1):
    """33,000 won: two coffees (VAT) with a line discount, one exempt item; 10 % off the order."""
    return orders.open_table(
        store_id,
        table_no,
        lines=[
            pricing.Line(
                unit_price=5000,
                quantity=3,
                ref=11,
                discounts=(pricing.Discount("amount", 1000, "단골"),),
            ),
            pricing.Line(unit_price=19000, quantity=1, tax="exempt", ref=12),
        ],
        order_discounts=(pricing.Discount("percent", 10, "이벤트"),),
    )


def test_split_card_and_cash_to_zero_with_change_and_receipt(app, client, orders, store):
    order = mixed_order(orders, store)
    total = order.total_price
    staff = auth_headers(staff_token_for(store, "cashier", staff_id=42))
    first = client.post(
        "/sales/payments",
        json={"order_id": order.order_id, "amount": 20000, "payment_type": "card", "card": card()},
        headers={**staff, "Idempotency-Key": "split-1"},
    )
    assert first.status_code == 201, first.json
    assert first.json["card"] == {
        "approval_no": "****5678",
        "issuer": "신한",
        "installment_months": 3,
    }
    assert (first.json["amount"], first.json["balance"], first.json["order_status"]) == (
        20000,
        total - 20000,
        "open",
    )
    assert "sale_id" not in first.json and first.json["staff_id"] == 42
    assert APPROVAL not in first.get_data(as_text=True)
    second = pay(
        client,
        store,
        {"table_no": 1, "amount": total - 20000, "payment_type": "cash", "tendered": 20000},
        key="split-2",
    )
    assert second.status_code == 201, second.json
    assert (second.json["change"], second.json["balance"], second.json["order_status"]) == (
        20000 - (total - 20000),
        0,
        "paid",
    )
    sale_id, receipt_no = second.json["sale_id"], second.json["receipt_no"]
    [sale] = rows(app, Sale, id=sale_id)
    assert sale.payment_type == "mixed" and sale.receipt_no == receipt_no
    assert (sale.taxable_total, sale.exempt_total, sale.vat) == (
        order.priced.taxable_total,
        order.priced.exempt_total,
        order.priced.vat,
    )
    [stored] = rows(app, Payment, payment_type="card", store_id=store)
    assert stored.card_approval_no == APPROVAL and stored.staff_id == 42  # stored in full
    listed = client.get("/sales/", headers=auth_headers(token_for(store))).json["sales"]
    assert [(s["id"], s["payment_type"], s["total_price"]) for s in listed] == [
        (sale_id, "mixed", total)
    ]
    receipt = client.get(f"/sales/receipts/{receipt_no}", headers=staff)
    assert receipt.status_code == 200, receipt.json
    body = receipt.json
    assert body["receipt_no"] == receipt_no and body["reprint_count"] == 0
    assert body["store"]["business_number"] == "123-45-67890"
    assert [line["line_id"] for line in body["lines"]] == [11, 12]
    assert body["lines"][0]["options"] == [{"name": "샷 추가", "price_delta": 500}]
    figures = order.priced.totals()
    for key in ("subtotal", "discount_total", "taxable_total", "vat", "supply_value", "total"):
        assert body[key] == figures[key], key
    assert [(p["payment_type"], p["amount"]) for p in body["payments"]] == [
        ("card", 20000),
        ("cash", total - 20000),
    ]
    assert body["payments"][0]["card"]["approval_no"] == "****5678"
    assert body["change"] == 20000 - (total - 20000)
    assert APPROVAL not in receipt.get_data(as_text=True)
    again = client.get(f"/sales/receipts/{receipt_no}", headers=staff)
    assert again.json["reprint_count"] == 1
    assert client.get(f"/sales/receipts/{receipt_no}", headers=staff).json["reprint_count"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"order_id": 1, "amount": "1000", "payment_type": "cash"},  # wrong type
        {"order_id": 1, "amount": 1000.5, "payment_type": "cash"},
        {"order_id": 1, "amount": True, "payment_type": "cash"},
        {"order_id": 1, "amount": -1000, "payment_type": "cash"},  # negative
        {"order_id": 1, "amount": 0, "payment_type": "cash"},
        {"order_id": 1, "amount": 10**12, "payment_type": "cash"},  # huge
        {"order_id": 1, "amount": 1000, "payment_type": "bitcoin"},
        {"amount": 1000, "payment_type": "cash"},  # no target
        {"order_id": 1, "table_no": 1, "amount": 1000, "payment_type": "cash"},
        {"order_id": 1, "amount": 1000, "payment_type": "card"},  # card without card data
        {"order_id": 1, "amount": 1000, "payment_type": "card", "card": {"issuer": "신한"}},
        {"order_id": 1, "amount": 1000, "payment_type": "card", "card": card("12-34")},
        {"order_id": 1, "amount": 1000, "payment_type": "cash", "card": card()},
        {"order_id": 1, "amount": 5000, "payment_type": "cash", "tendered": 4000},  # below
        {"order_id": 1, "amount": 1000, "payment_type": "card", "card": card(), "tendered": 5000},
        {"order_id": 1, "amount": 1000, "payment_type": "cash", "tendered": -1},
    ],
)
def test_bad_payment_input_is_422_and_nothing_recorded(app, client, orders, store, body):
    orders.open_table(store, 1, 10000)
    response = pay(client, store, body)
    assert response.status_code == 422, response.json
    assert orders.pay_calls == 0 and rows(app, Payment, store_id=store) == []


def test_card_over_the_balance_is_409_and_foreign_orders_404(app, client, orders, store):
    order = orders.open_table(store, 2, 10000)
    over = pay(
        client,
        store,
        {"order_id": order.order_id, "amount": 10001, "payment_type": "card", "card": card()},
    )
    assert over.status_code == 409 and over.json["error"]["code"] == "amount_exceeds_balance"
    assert over.json["balance"] == 10000
    other = pay(
        client, store, {"order_id": order.order_id, "amount": 10001, "payment_type": "other"}
    )
    assert other.status_code == 409
    assert order.paid_total == 0 and rows(app, Payment, store_id=store) == []
    foreign = pay(
        client, store + 1, {"order_id": order.order_id, "amount": 100, "payment_type": "cash"}
    )
    assert foreign.status_code == 404
    empty = pay(client, store, {"table_no": 99, "amount": 100, "payment_type": "cash"})
    assert empty.status_code == 404 and empty.json["error"]["code"] == "no_open_order"


def test_cash_above_the_balance_pays_the_balance_and_gives_change(app, client, orders, store):
    order = orders.open_table(store, 3, 7300)
    response = pay(
        client, store, {"order_id": order.order_id, "amount": 10000, "payment_type": "cash"}
    )
    assert response.status_code == 201, response.json
    assert (response.json["amount"], response.json["change"], response.json["balance"]) == (
        7300,
        2700,
        0,
    )
    assert response.json["order_status"] == "paid" and response.json["receipt_no"]


def test_exactly_once_per_key(app, client, orders, store):
    order = orders.open_table(store, 4, 9000)
    body = {"order_id": order.order_id, "amount": 4000, "payment_type": "card", "card": card()}
    first = pay(client, store, body, key="once")
    second = pay(client, store, body, key="once")
    assert first.status_code == second.status_code == 201
    assert first.json == second.json and second.headers.get("Idempotent-Replayed") == "true"
    assert order.paid_total == 4000 and len(rows(app, Payment, store_id=store)) == 1


def test_card_numbers_never_reach_the_logs(app, client, orders, store, caplog):
    caplog.set_level(logging.DEBUG)
    order = orders.open_table(store, 5, 9000)
    response = pay(
        client,
        store,
        {"order_id": order.order_id, "amount": 9000, "payment_type": "card", "card": card()},
        key="log-me",
    )
    assert response.status_code == 201
    client.get(
        f"/sales/receipts/{response.json['receipt_no']}", headers=auth_headers(token_for(store))
    )
    assert caplog.records  # something was logged, and none of it carries the number
    assert all(APPROVAL not in record.getMessage() for record in caplog.records)
    assert APPROVAL not in caplog.text


def paid_sale(client, orders, store, table_no=1):
    order = mixed_order(orders, store, table_no)
    card_part = 20000
    pay(
        client,
        store,
        {"order_id": order.order_id, "amount": card_part, "payment_type": "card", "card": card()},
    )
    response = pay(
        client,
        store,
        {
            "order_id": order.order_id,
            "amount": order.total_price - card_part,
            "payment_type": "cash",
        },
    )
    assert response.status_code == 201 and response.json["order_status"] == "paid"
    return order, response.json["sale_id"]


def refund(client, store, sale_id, body, role=None):
    token = staff_token_for(store, role, staff_id=9) if role else token_for(store)
    return client.post(f"/sales/{sale_id}/refunds", json=body, headers=auth_headers(token))


def test_refunds_vat_to_the_won_and_never_above_the_payment(app, client, orders, store):
    order, sale_id = paid_sale(client, orders, store)
    priced = order.priced
    by_lines = refund(
        client,
        store,
        sale_id,
        {"lines": [{"line_id": 11, "quantity": 1}], "reason": "식음"},
        "manager",
    )
    assert by_lines.status_code == 201, by_lines.json
    expected = pricing.refund_lines(priced, [], {11: 1})
    assert (
        by_lines.json["amount"],
        by_lines.json["taxable_total"],
        by_lines.json["vat"],
        by_lines.json["exempt_total"],
    ) == (expected.total, expected.taxable_total, expected.vat, expected.exempt_total)
    assert by_lines.json["staff_id"] == 9
    assert by_lines.json["lines"] == [{"line_id": 11, "quantity": 1, "amount": expected.total}]
    by_amount = refund(client, store, sale_id, {"amount": 3333, "reason": "부분 환불"})
    assert by_amount.status_code == 201
    expected2 = pricing.refund_amount(priced, [expected], 3333)
    assert (by_amount.json["taxable_total"], by_amount.json["vat"]) == (
        expected2.taxable_total,
        expected2.vat,
    )
    left = priced.total - expected.total - 3333
    assert by_amount.json["refundable"] == left
    too_much = refund(client, store, sale_id, {"amount": left + 1, "reason": "과다"})
    assert too_much.status_code == 409 and too_much.json["error"]["code"] == "refund_exceeds_paid"
    units = refund(
        client, store, sale_id, {"lines": [{"line_id": 11, "quantity": 3}], "reason": "x"}
    )
    assert units.status_code == 409
    unknown = refund(
        client, store, sale_id, {"lines": [{"line_id": 999, "quantity": 1}], "reason": "x"}
    )
    assert unknown.status_code == 422
    for bad in (
        {"amount": -5, "reason": "x"},
        {"amount": "5", "reason": "x"},
        {"amount": 10**12, "reason": "x"},
        {"amount": 5},
        {"amount": 5, "lines": [{"line_id": 11, "quantity": 1}], "reason": "x"},
        {"amount": 5, "reason": "x", "payment_type": "gift"},
    ):
        assert refund(client, store, sale_id, bad).status_code == 422, bad
    assert refund(client, store + 1, sale_id, {"amount": 5, "reason": "x"}).status_code == 404
    assert (
        refund(client, store, sale_id, {"amount": 5, "reason": "x"}, "cashier").status_code == 403
    )
    # the first contract's void refunds exactly what is left; then nothing is left
    assert client.delete(f"/sales/{sale_id}", headers=auth_headers(token_for(store))).json == {
        "result": "success",
        "message": "결제 취소 성공",
    }
    assert (
        client.delete(f"/sales/{sale_id}", headers=auth_headers(token_for(store))).status_code
        == 409
    )
    all_refunds = rows(app, Refund, sale_id=sale_id)
    assert sum(r.amount for r in all_refunds) == priced.total
    assert sum(r.vat for r in all_refunds) == priced.vat  # reversed to the won
    assert sum(r.exempt_total for r in all_refunds) == priced.exempt_total
    [sale] = rows(app, Sale, id=sale_id)
    assert sale.refunded_at is not None and sale.refunded_total == priced.total
    receipt = client.get(
        f"/sales/receipts/{sale.receipt_no}", headers=auth_headers(token_for(store))
    )
    assert [r["amount"] for r in receipt.json["refunds"]] == [r.amount for r in all_refunds]
    assert receipt.json["net_total"] == 0


def test_daily_totals_after_partial_refunds_by_tender(app, client, orders, store):
    order, sale_id = paid_sale(client, orders, store)
    total = order.total_price
    # mixed sale (card 20000, then cash): without payment_type the last tender (cash) goes first
    first = refund(client, store, sale_id, {"amount": total - 20000 + 1000, "reason": "a"})
    assert first.json["tenders"] == [
        {"payment_type": "cash", "amount": total - 20000},
        {"payment_type": "card", "amount": 1000},
    ]
    assert first.json["payment_type"] == "mixed"
    named = refund(client, store, sale_id, {"amount": 500, "reason": "b", "payment_type": "cash"})
    assert named.status_code == 409 and named.json["error"]["code"] == "refund_exceeds_tender"
    assert (
        refund(
            client, store, sale_id, {"amount": 500, "reason": "b", "payment_type": "card"}
        ).status_code
        == 201
    )
    [sale] = rows(app, Sale, id=sale_id)
    day = sale.business_date.isoformat()
    totals = client.get(
        f"/internal/stores/{store}/daily-totals?start={day}&end={day}",
        headers={SERVICE_TOKEN_HEADER: app.extensions["salesync"].tokens.token()},
    ).json
    refunded = total - 20000 + 1500
    [row] = totals["days"]
    assert (row["sales_volume"], row["refunded"], row["payments"]) == (
        total - refunded,
        refunded,
        1,
    )
    assert row["net_sales"] == row["gross_sales"] - row["discount_total"] - row["refund_total"]
    assert row["net_sales"] == row["taxable_total"] + row["exempt_total"] == total - refunded
    assert row["vat"] + row["supply_value"] == row["taxable_total"]
    assert totals["by_payment_type"] == [
        {"payment_type": "card", "sales_volume": 18500, "payments": 1},
        {"payment_type": "cash", "sales_volume": 0, "payments": 1},
    ]


def test_the_consumer_completes_a_crashed_payment_with_its_receipt(app, client, orders, store):
    order = mixed_order(orders, store, 7)
    orders.pay_down = True  # the order records the payment, its answer is lost
    lost = pay(
        client,
        store,
        {"order_id": order.order_id, "amount": order.total_price, "payment_type": "other"},
        key="k1",
    )
    assert lost.status_code == 503 and rows(app, Sale, store_id=store) == []
    orders.pay_down = False
    with app.app_context():
        handler = OrderEventHandler(db.engine, lambda s, o: orders.order(s, o))
    for value in orders.events:
        handler(Event("orders.events", str(value["store_id"]), value))
        handler(Event("orders.events", str(value["store_id"]), value))  # redelivered
    [sale] = rows(app, Sale, store_id=store)
    assert sale.receipt_no and sale.receipt_no.endswith("-0001")
    assert (sale.taxable_total, sale.vat) == (order.priced.taxable_total, order.priced.vat)
    retry = pay(
        client,
        store,
        {"order_id": order.order_id, "amount": order.total_price, "payment_type": "other"},
        key="k1",
    )
    assert retry.status_code == 201 and retry.json["sale_id"] == sale.id
    assert retry.json["receipt_no"] == sale.receipt_no


def test_receipt_numbers_are_per_store_and_day_and_unknown_is_404(app, client, orders, store):
    numbers = []
    for table in range(1, 4):
        order = orders.open_table(store, table, 1000 * table)
        response = pay(
            client,
            store,
            {"order_id": order.order_id, "amount": 1000 * table, "payment_type": "cash"},
        )
        numbers.append(response.json["receipt_no"])
    assert [n.split("-")[1] for n in numbers] == ["0001", "0002", "0003"]
    headers = auth_headers(token_for(store))
    assert client.get("/sales/receipts/20260101-0001", headers=headers).status_code == 404
    assert client.get("/sales/receipts/not-a-number", headers=headers).status_code == 404
    other_store = auth_headers(token_for(store + 1))
    assert client.get(f"/sales/receipts/{numbers[0]}", headers=other_store).status_code == 404
    service = {SERVICE_TOKEN_HEADER: app.extensions["salesync"].tokens.token()}
    [sale] = rows(app, Sale, receipt_no=numbers[0], store_id=store)
    by_order = client.get(
        f"/internal/stores/{store}/orders/{sale.order_id}/receipt", headers=service
    )
    assert by_order.status_code == 200 and by_order.json["receipt_no"] == numbers[0]
    listed = client.get(f"/internal/stores/{store}/orders/{sale.order_id}/refunds", headers=service)
    assert listed.json == {"refunds": []}
    assert json.loads(json.dumps(by_order.json))["payments"][0]["card"] is None
