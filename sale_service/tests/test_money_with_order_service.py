"""v2 payments against the real order and item services over HTTP (PostgreSQL, served apps):
the races (last balance, 20 receipts at once), a split payment, the order's receipt path."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select

from sale_service.app.models import Payment, Sale, db

from .served import h, menu_item, open_order, order_state


def pay(stack, store_id, body, key=None):
    headers = h(store_id)
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(f"{stack.sale.url}/sales/payments", json=body, headers=headers, timeout=30)


def rows(stack, model, **where):
    with stack.sale_app.app_context():
        found = list(db.session.scalars(select(model).filter_by(**where)))
        db.session.commit()
        return found


def in_parallel(calls):
    barrier = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        answers[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_split_card_and_cash_against_the_order_service(stack, store):
    item = menu_item(stack, store, 4500)
    order_id = open_order(stack, store, 3, item, 4)  # 18,000
    card = {"approval_no": "77001234", "issuer": "국민", "installment_months": 0}
    first = pay(
        stack, store, {"order_id": order_id, "amount": 10000, "payment_type": "card", "card": card}
    )
    assert first.status_code == 201, first.text
    assert first.json()["balance"] == 8000 and first.json()["card"]["approval_no"] == "****1234"
    second = pay(
        stack, store, {"table_no": 3, "amount": 8000, "payment_type": "cash", "tendered": 10000}
    )
    assert second.status_code == 201, second.text
    body = second.json()
    assert (body["change"], body["balance"], body["order_status"]) == (2000, 0, "paid")
    state = order_state(stack, store, order_id)
    assert (state["status"], state["paid_total"]) == ("paid", 18000)
    [sale] = rows(stack, Sale, store_id=store)
    assert (sale.id, sale.payment_type, sale.total_price, sale.vat) == (
        body["sale_id"],
        "mixed",
        18000,
        1636,
    )
    # the order service serves the receipt under its prefix (the sale service's receipt)
    receipt = requests.get(
        f"{stack.order.url}/orders/{order_id}/receipt", headers=h(store), timeout=10
    )
    assert receipt.status_code == 200, receipt.text
    assert (
        receipt.json()["receipt_no"] == body["receipt_no"] and receipt.json()["reprint_count"] == 0
    )
    assert receipt.json()["total"] == 18000 and "77001234" not in receipt.text
    reprint = requests.get(
        f"{stack.sale.url}/sales/receipts/{body['receipt_no']}", headers=h(store), timeout=10
    )
    assert reprint.json()["reprint_count"] == 1
    missing = requests.get(
        f"{stack.order.url}/orders/{order_id + 10**6}/receipt", headers=h(store), timeout=10
    )
    assert missing.status_code == 404
    # the first contract's listing shows the sale; the void still answers as it did
    voided = requests.delete(f"{stack.sale.url}/sales/{sale.id}", headers=h(store), timeout=10)
    assert voided.json() == {"result": "success", "message": "결제 취소 성공"}
    refunds = requests.get(
        f"{stack.sale.url}/internal/stores/{store}/orders/{order_id}/refunds",
        headers={"X-Service-Token": stack.sale_app.extensions["salesync"].tokens.token()},
        timeout=10,
    ).json()["refunds"]
    assert [(r["sale_id"], r["amount"]) for r in refunds] == [(sale.id, 18000)]


@pytest.mark.parametrize("tender", ["card", "cash"])
def test_two_terminals_paying_the_last_balance_one_wins(stack, store, tender):
    item = menu_item(stack, store, 5000)
    order_id = open_order(stack, store, 1, item, 2)  # 10,000
    assert (
        pay(
            stack, store, {"order_id": order_id, "amount": 4000, "payment_type": "other"}
        ).status_code
        == 201
    )
    extra = {"card": {"approval_no": "12345678", "issuer": "BC"}} if tender == "card" else {}
    body = {"order_id": order_id, "amount": 6000, "payment_type": tender, **extra}
    answers = in_parallel(
        [lambda i=i: pay(stack, store, body, key=f"terminal-{i}") for i in range(2)]
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409], [a.text for a in answers]
    state = order_state(stack, store, order_id)
    assert (state["status"], state["paid_total"], state["balance"]) == ("paid", 10000, 0)
    payments = rows(stack, Payment, store_id=store)
    assert sorted(p.amount for p in payments) == [4000, 6000]
    assert len(rows(stack, Sale, store_id=store)) == 1


def test_twenty_concurrent_completions_number_receipts_without_gap_or_duplicate(stack, store):
    item = menu_item(stack, store, 1000)
    orders = [open_order(stack, store, table, item, table) for table in range(1, 21)]
    answers = in_parallel(
        [
            lambda order_id=order_id, table=table: pay(
                stack, store, {"order_id": order_id, "amount": table * 1000, "payment_type": "cash"}
            )
            for table, order_id in enumerate(orders, start=1)
        ]
    )
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    numbers = sorted(a.json()["receipt_no"] for a in answers)
    day = numbers[0].split("-")[0]
    assert numbers == [f"{day}-{n:04d}" for n in range(1, 21)]
    sales = rows(stack, Sale, store_id=store)
    assert sorted(s.receipt_no for s in sales) == numbers
