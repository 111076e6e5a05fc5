"""Cancelling an order with payments recorded against it (part-paid by a split tender) is refused.

The order service owns ``paid_total`` (every payment is recorded against the order in its own
transaction), so the guard lives where cancel is enforced: ``services.cancel_table`` (DELETE
/orders/<table_no>) and ``services.replace_lines`` with empty carts (PUT /orders/).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from .test_internal import pay
from .test_money import detail, h, post, put, state


def _part_paid(stack, client, sid: int, table_no: int) -> tuple[int, dict[str, int]]:
    ids = stack.menu(sid, {"부대찌개": 11_000})
    order_id = post(client, sid, table_no, [{"item_id": ids["부대찌개"], "quantity": 2}]).json[
        "order_id"
    ]
    taken = pay(client, stack, sid, order_id=order_id, amount=7_000, payment_type="card")
    assert taken.status_code in (200, 201), taken.json
    assert detail(client, sid, order_id)["balance"] == 22_000 - 7_000
    return order_id, ids


def test_a_part_paid_order_is_not_cancelled_and_nothing_changes(stack, client) -> None:
    sid = 931
    order_id, _ = _part_paid(stack, client, sid, 4)
    before = state(stack)

    deleted = client.delete("/orders/4", headers=h(sid))
    assert deleted.status_code == 409, deleted.json
    assert deleted.headers["Content-Type"].startswith("application/json")
    assert deleted.json["error"]["code"] == "has_payments"
    assert deleted.json["paid_total"] == 7_000

    emptied = put(client, sid, 4, [])
    assert emptied.status_code == 409, emptied.json
    assert emptied.json["error"]["code"] == "has_payments"

    assert state(stack) == before  # no order, line, discount or event row changed
    order = detail(client, sid, order_id)
    assert (order["status"], order["paid_total"], order["balance"]) == ("open", 7_000, 15_000)
    # the balance can still be paid: the order is not stuck
    rest = pay(client, stack, sid, order_id=order_id, amount=15_000, payment_type="cash")
    assert rest.status_code in (200, 201), rest.json
    assert detail(client, sid, order_id)["status"] == "paid"


def test_an_unpaid_order_still_cancels(stack, client) -> None:
    sid = 932
    ids = stack.menu(sid, {"라면": 4_000})
    post(client, sid, 6, [{"item_id": ids["라면"], "quantity": 1}])
    deleted = client.delete("/orders/6", headers=h(sid))
    assert deleted.status_code == 200 and len(deleted.json["orders"]) == 1


@pytest.mark.parametrize("sid", [940, 941, 942, 943])
def test_cancel_racing_a_payment_never_both_succeed(stack, sid: int) -> None:
    """Real parallel requests on PostgreSQL: the order row lock decides who goes first."""
    client = stack.order_app.test_client()
    ids = stack.menu(sid, {"김밥": 3_000})
    order_id = post(client, sid, 1, [{"item_id": ids["김밥"], "quantity": 3}]).json["order_id"]
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def cancel() -> None:
        own = stack.order_app.test_client()
        barrier.wait()
        results["cancel"] = own.delete("/orders/1", headers=h(sid))

    def payment() -> None:
        own = stack.order_app.test_client()
        barrier.wait()
        results["pay"] = pay(own, stack, sid, order_id=order_id, amount=1_000)

    threads = [threading.Thread(target=cancel), threading.Thread(target=payment)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cancelled = results["cancel"].status_code == 200
    paid = results["pay"].status_code in (200, 201)
    assert cancelled != paid, (results["cancel"].json, results["pay"].json)
    order = detail(client, sid, order_id)
    if cancelled:
        assert results["pay"].status_code in (404, 409)
        assert (order["status"], order["paid_total"]) == ("cancelled", 0)
    else:
        assert results["cancel"].json["error"]["code"] == "has_payments"
        assert (order["status"], order["paid_total"]) == ("open", 1_000)
