"""Table moves and the audit trail (PostgreSQL, the real item service, real parallel requests).

Transfer (move to a free table, merge into an occupied one), move-lines (split by items), their
refusals (nothing written), races between moves, edits and payments (no deadlock, no lost or
duplicated unit, versions right), the `transferred` event through the stream app, and
``GET /orders/<order_id>/events`` with the sale service's refunds (a stand-in serving the
internal refunds contract) and with the sale service down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from devstack.sse import messages, open_stream, take_events
from devstack.testing import auth_headers, free_port, staff_token_for, token_for
from order_service.app.models import Order, OrderLine, db

from .conftest import Stack
from .test_internal import pay
from .test_money import cafe, detail, discount, events_of, h, post, put, state
from .test_order_stream import stream_url  # noqa: F401 (the stream app fixture)

REFUNDS: dict[int, list[dict[str, Any]]] = {}


@pytest.fixture(scope="module")
def sale_stand_in(serve) -> str:
    """The sale service's internal refunds endpoint, as docs/internal-api.md describes it."""
    app = Flask("sale-stand-in")

    @app.get("/internal/stores/<int:store_id>/orders/<int:order_id>/refunds")
    def refunds(store_id: int, order_id: int) -> dict[str, Any]:
        return {"refunds": REFUNDS.get(order_id, [])}

    return serve(app).url


@pytest.fixture(scope="module")
def stack(service_app, serve, sale_stand_in) -> Stack:
    item_app = service_app("item_service")
    served = serve(item_app)
    order_app = service_app(
        "order_service", item_service_url=served.url, sale_service_url=sale_stand_in
    )
    return Stack(item_app, order_app)


@pytest.fixture(scope="module")
def sale_down_client(service_app, stack):
    app = service_app(
        "order_service",
        item_service_url="http://127.0.0.1:9",
        sale_service_url=f"http://127.0.0.1:{free_port()}",
        http_retries=0,
    )
    return app.test_client()


def transfer(client, sid: int, table_no: int, to_table: Any, headers: dict[str, str] | None = None):
    return client.post(
        f"/orders/tables/{table_no}/transfer",
        json={"to_table": to_table},
        headers=headers or h(sid),
    )


def move(client, sid: int, table_no: int, to_table: Any, lines: Any, headers=None):
    return client.post(
        f"/orders/tables/{table_no}/move-lines",
        json={"to_table": to_table, "lines": lines},
        headers=headers or h(sid),
    )


def open_tables(stack: Stack, sid: int) -> dict[int, dict[tuple[int, str], int]]:
    """table_no -> {(item_id, option_key): quantity} of the store's open orders."""
    with stack.order_app.app_context():
        rows = db.session.execute(
            select(Order.table_no, OrderLine.item_id, OrderLine.option_key, OrderLine.quantity)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.store_id == sid, Order.status == "open")
        ).all()
        db.session.rollback()
    tables: dict[int, dict[tuple[int, str], int]] = {}
    for row in rows:
        tables.setdefault(row.table_no, {})[(row.item_id, row.option_key)] = row.quantity
    return tables


def units(stack: Stack, sid: int) -> int:
    with stack.order_app.app_context():
        total = db.session.scalar(
            select(func.coalesce(func.sum(OrderLine.quantity), 0))
            .join(Order, OrderLine.order_id == Order.id)
            .where(Order.store_id == sid, Order.status == "open")
        )
        db.session.rollback()
    return int(total)


def race(*calls: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# ---- transfer


def test_transfer_to_a_free_table_moves_the_order(stack, client):
    sid = 8201
    m = cafe(stack, sid)
    order_id = post(client, sid, 3, [{"item_id": m["쿠키"], "quantity": 2}]).json["order_id"]
    before = detail(client, sid, order_id)
    manager = auth_headers(staff_token_for(sid, "manager", staff_id=41))
    moved = transfer(client, sid, 3, 12, headers=manager)
    assert moved.status_code == 200, moved.json
    assert moved.json == {
        "result": "moved",
        "order_id": order_id,
        "from_table": 3,
        "to_table": 12,
        "version": before["version"] + 1,
        "merged_from_order_id": None,
        "total": 5000,
    }
    after = detail(client, sid, order_id)
    assert after["table_no"] == 12 and after["status"] == "open" and after["total"] == 5000
    assert after["lines"] == before["lines"]  # same line ids, nothing re-snapshotted
    last = events_of(stack, order_id)[-1]
    assert last.type == "transferred" and last.staff_id == 41
    assert open_tables(stack, sid) == {12: {(m["쿠키"], ""): 2}}


def test_merge_adds_lines_up_and_keeps_every_won(stack, client):
    sid = 8202
    m = cafe(stack, sid)
    large = [m["라지"], m["샷"]]
    source_id = post(
        client,
        sid,
        4,
        [
            {"item_id": m["라떼"], "quantity": 2, "options": large},
            {"item_id": m["쿠키"], "quantity": 1},
            {"item_id": m["쌀"], "quantity": 1},
        ],
    ).json["order_id"]
    target_id = post(
        client,
        sid,
        9,
        [
            {"item_id": m["라떼"], "quantity": 1, "options": [m["레귤러"]]},
            {"item_id": m["쿠키"], "quantity": 3},
        ],
    ).json["order_id"]
    source = detail(client, sid, source_id)
    rice = next(line for line in source["lines"] if line["item_id"] == m["쌀"])
    # a line discount on a line the target lacks travels with it; the source's order discount
    # is dropped; the target's order discount (percent) covers the merged check
    assert (
        discount(
            client,
            sid,
            source_id,
            scope="line",
            line_id=rice["line_id"],
            kind="amount",
            value=700,
            reason="흠집",
        ).status_code
        == 201
    )
    assert (
        discount(
            client, sid, source_id, scope="order", kind="amount", value=1000, reason="단골"
        ).status_code
        == 201
    )
    assert (
        discount(
            client, sid, target_id, scope="order", kind="percent", value=10, reason="쿠폰"
        ).status_code
        == 201
    )
    target_version = detail(client, sid, target_id)["version"]
    merged = transfer(client, sid, 4, 9)
    assert merged.status_code == 200, merged.json
    # 라떼 L+샷 2 x 5500 + 라떼 R 4500 + 쿠키 4 x 2500 + 쌀 10000 (-700) = 34800; 10 % = 3480
    assert merged.json == {
        "result": "merged",
        "order_id": target_id,
        "from_table": 4,
        "to_table": 9,
        "version": target_version + 1,
        "merged_from_order_id": source_id,
        "total": 31_320,
    }
    after = detail(client, sid, target_id)
    assert after["subtotal"] == 11_000 + 4500 + 10_000 + 10_000
    assert after["discount_total"] == 700 + 3480 and after["total"] == 31_320
    assert after["taxable_total"] + after["exempt_total"] == after["total"]
    assert sum(line["net"] for line in after["lines"]) == after["total"]
    rice_after = next(line for line in after["lines"] if line["item_id"] == m["쌀"])
    assert rice_after["line_id"] == rice["line_id"] and rice_after["line_discount"] == 700
    assert sorted(d["reason"] for d in after["discounts"]) == ["쿠폰", "흠집"]
    gone = detail(client, sid, source_id)
    assert gone["status"] == "cancelled" and gone["merged_into_order_id"] == target_id
    assert gone["lines"] == [] and gone["discounts"] == []
    source_types = [e.type for e in events_of(stack, source_id)]
    assert source_types[-2:] == ["discount_removed", "transferred"]
    target_event = events_of(stack, target_id)[-1]
    assert target_event.type == "transferred"
    assert open_tables(stack, sid) == {
        9: {
            (m["라떼"], ",".join(map(str, sorted(large)))): 2,
            (m["라떼"], str(m["레귤러"])): 1,
            (m["쿠키"], ""): 4,
            (m["쌀"], ""): 1,
        }
    }


def test_transfer_refusals_write_nothing(stack, client):
    sid = 8203
    m = cafe(stack, sid)
    post(client, sid, 1, [{"item_id": m["쿠키"], "quantity": 1}])
    target_id = post(client, sid, 2, [{"item_id": m["쿠키"], "quantity": 1}]).json["order_id"]
    paid_source = post(client, sid, 5, [{"item_id": m["쌀"], "quantity": 1}]).json["order_id"]
    pay(client, stack, sid, order_id=paid_source, amount=1000)
    cookie_line = detail(client, sid, target_id)["lines"][0]["line_id"]
    assert (
        discount(
            client,
            sid,
            target_id,
            scope="line",
            line_id=cookie_line,
            kind="percent",
            value=50,
            reason="반값",
        ).status_code
        == 201
    )
    other = 8299
    other_items = stack.menu(other, {"빵": 1000})
    post(client, other, 7, [{"item_id": other_items["빵"], "quantity": 1}])
    before = state(stack)
    cases = [
        (1, 1, 422, "same_table"),
        (6, 2, 404, "no_open_order"),
        (7, 2, 404, "no_open_order"),  # another store's table is not this store's
        (99_999_999, 2, 404, "no_open_order"),
        (5, 2, 409, "has_payments"),
        (1, 2, 409, "line_has_discount"),  # the two 쿠키 lines meet; the target's has 50 %
        (1, -1, 422, "validation_error"),
        (1, 10_000, 422, "validation_error"),
        (1, "3", 422, "validation_error"),
        (1, None, 422, "validation_error"),
        (1, 2**70, 422, "validation_error"),
    ]
    for table_no, to_table, status, code in cases:
        answer = transfer(client, sid, table_no, to_table)
        assert answer.status_code == status, (table_no, to_table, answer.json)
        assert answer.json["error"]["code"] == code, answer.json
    assert (
        client.post("/orders/tables/-1/transfer", json={"to_table": 2}, headers=h(sid)).status_code
        == 404
    )
    assert (
        client.post(
            "/orders/tables/1/transfer",
            data="[]",
            headers={**h(sid), "Content-Type": "application/json"},
        ).status_code
        == 400
    )
    assert client.post("/orders/tables/1/transfer", json={"to_table": 3}).status_code == 401
    assert state(stack) == before
    # moving the part-paid order to a free table is fine
    assert transfer(client, sid, 5, 15).status_code == 200
    assert detail(client, sid, paid_source)["paid_total"] == 1000


# ---- move-lines


def test_move_lines_split_by_items(stack, client):
    sid = 8204
    m = cafe(stack, sid)
    large = [m["라지"]]
    source_id = post(
        client,
        sid,
        2,
        [
            {"item_id": m["라떼"], "quantity": 3, "options": large},
            {"item_id": m["쿠키"], "quantity": 2},
            {"item_id": m["쌀"], "quantity": 1},
        ],
    ).json["order_id"]
    lines = {line["item_id"]: line for line in detail(client, sid, source_id)["lines"]}
    cashier = auth_headers(staff_token_for(sid, "cashier", staff_id=52))
    answer = move(
        client,
        sid,
        2,
        8,
        [
            {"item_id": m["라떼"], "options": large, "quantity": 1},
            {"line_id": lines[m["쌀"]]["line_id"], "quantity": 1},
        ],
        headers=cashier,
    )
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["from_total"] == 2 * 5000 + 2 * 2500 and body["to_total"] == 5000 + 10_000
    assert body["to_version"] == 1 and body["from_table"] == 2 and body["to_table"] == 8
    new_id = body["to_order_id"]
    target = detail(client, sid, new_id)
    assert target["staff_id"] == 52 and target["total"] == 15_000
    rice = next(line for line in target["lines"] if line["item_id"] == m["쌀"])
    assert rice["line_id"] == lines[m["쌀"]]["line_id"]  # a whole line moves as it is
    assert [e.type for e in events_of(stack, new_id)] == ["opened", "lines_moved"]
    assert all(e.staff_id == 52 for e in events_of(stack, new_id))
    assert events_of(stack, source_id)[-1].type == "lines_moved"
    # again into the now-occupied table: units join its line of the same item and options
    again = move(client, sid, 2, 8, [{"item_id": m["라떼"], "options": large, "quantity": 1}])
    assert again.status_code == 200 and again.json["to_order_id"] == new_id
    assert open_tables(stack, sid) == {
        2: {(m["라떼"], str(m["라지"])): 1, (m["쿠키"], ""): 2},
        8: {(m["라떼"], str(m["라지"])): 2, (m["쌀"], ""): 1},
    }
    # each check is paid on its own
    assert pay(client, stack, sid, order_id=new_id).json["status"] == "paid"
    assert detail(client, sid, source_id)["total"] == 5000 + 5000


def test_move_lines_refusals_write_nothing(stack, client):
    sid = 8205
    m = cafe(stack, sid)
    source_id = post(
        client,
        sid,
        1,
        [{"item_id": m["쿠키"], "quantity": 2}, {"item_id": m["쌀"], "quantity": 1}],
    ).json["order_id"]
    lines = {line["item_id"]: line for line in detail(client, sid, source_id)["lines"]}
    pay(client, stack, sid, order_id=source_id, amount=9000)
    assert (
        discount(
            client,
            sid,
            source_id,
            scope="line",
            line_id=lines[m["쿠키"]]["line_id"],
            kind="amount",
            value=100,
            reason="t",
        ).status_code
        == 201
    )
    before = state(stack)
    cookie = {"item_id": m["쿠키"], "quantity": 1}
    cases = [
        (1, [cookie], 422, "same_table"),
        (4, [cookie], 404, "no_open_order"),
        (3, [{"item_id": m["라떼"], "quantity": 1}], 404, "line_not_found"),
        (3, [{"item_id": m["쿠키"], "options": [m["라지"]], "quantity": 1}], 404, "line_not_found"),
        (3, [{"line_id": 2**31 - 1, "quantity": 1}], 404, "line_not_found"),
        (3, [cookie, cookie, cookie], 409, "quantity_exceeds_line"),
        (
            3,
            [{"item_id": m["쿠키"], "quantity": 2}, {"item_id": m["쌀"], "quantity": 1}],
            409,
            "would_empty_source",
        ),
        (3, [cookie], 409, "line_has_discount"),  # part of a discounted line
        # 쌀 leaves 4900 < 9000 paid
        (3, [{"item_id": m["쌀"], "quantity": 1}], 409, "below_paid_total"),
        (3, [], 422, "validation_error"),
        (3, [{"item_id": m["쿠키"], "line_id": 1, "quantity": 1}], 422, "validation_error"),
        (3, [{"item_id": m["쿠키"], "quantity": 0}], 422, "validation_error"),
        (3, [{"item_id": m["쿠키"], "quantity": "1"}], 422, "validation_error"),
        (-3, [cookie], 422, "validation_error"),
    ]
    for to_table, entries, status, code in cases:
        source_table = 6 if code == "no_open_order" else 1
        answer = move(client, sid, source_table, to_table, entries)
        assert answer.status_code == status, (to_table, entries, answer.json)
        assert answer.json["error"]["code"] == code, answer.json
    assert state(stack) == before


# ---- races (real parallel requests against PostgreSQL)


def test_opposite_transfers_never_deadlock_or_lose_a_line(stack):
    sid = 8206
    m = cafe(stack, sid)
    client = stack.order_app.test_client()
    for round_no in range(4):
        a, b = 10 + 2 * round_no, 11 + 2 * round_no
        post(client, sid, a, [{"item_id": m["쿠키"], "quantity": 2}])
        post(
            client,
            sid,
            b,
            [{"item_id": m["쌀"], "quantity": 1}, {"item_id": m["쿠키"], "quantity": 1}],
        )
        before = units(stack, sid)
        results = race(
            lambda a=a, b=b: transfer(stack.order_app.test_client(), sid, a, b),
            lambda a=a, b=b: transfer(stack.order_app.test_client(), sid, b, a),
        )
        statuses = sorted(r.status_code for r in results)
        # the first merges; the second finds its source gone (404) or merges back (200)
        assert statuses in ([200, 200], [200, 404]), [r.json for r in results]
        assert units(stack, sid) == before
        tables = open_tables(stack, sid)
        assert len([t for t in (a, b) if t in tables]) == 1
        survivor = tables[a] if a in tables else tables[b]
        assert survivor == {(m["쿠키"], ""): 3, (m["쌀"], ""): 1}


def test_concurrent_merges_into_one_table(stack):
    sid = 8207
    m = cafe(stack, sid)
    client = stack.order_app.test_client()
    target_id = post(client, sid, 50, [{"item_id": m["쿠키"], "quantity": 1}]).json["order_id"]
    for table in range(1, 7):
        post(
            client,
            sid,
            table,
            [{"item_id": m["쿠키"], "quantity": table}, {"item_id": m["쌀"], "quantity": 1}],
        )
    start = detail(client, sid, target_id)["version"]
    results = race(
        *[
            (lambda table=table: transfer(stack.order_app.test_client(), sid, table, 50))
            for table in range(1, 7)
        ]
    )
    assert [r.status_code for r in results] == [200] * 6, [r.json for r in results]
    final = detail(client, sid, target_id)
    assert final["version"] == start + 6
    assert open_tables(stack, sid) == {50: {(m["쿠키"], ""): 1 + 21, (m["쌀"], ""): 6}}
    assert final["total"] == 22 * 2500 + 6 * 10_000
    versions = [e.data for e in events_of(stack, target_id) if e.type == "transferred"]
    assert len(versions) == 6


def test_transfer_racing_an_edit_and_a_payment(stack):
    sid = 8208
    m = cafe(stack, sid)
    for round_no in range(3):
        client = stack.order_app.test_client()
        src, dst = 20 + 2 * round_no, 21 + 2 * round_no
        source_id = post(client, sid, src, [{"item_id": m["쿠키"], "quantity": 2}]).json["order_id"]
        target_id = post(client, sid, dst, [{"item_id": m["쌀"], "quantity": 2}]).json["order_id"]
        version = detail(client, sid, source_id)["version"]
        target_version = detail(client, sid, target_id)["version"]
        edit = [{"item_id": m["쿠키"], "quantity": 5}]
        results = race(
            lambda src=src, dst=dst: transfer(stack.order_app.test_client(), sid, src, dst),
            lambda src=src, v=version, e=edit: put(
                stack.order_app.test_client(), sid, src, e, version=v
            ),
            lambda target=target_id: pay(
                stack.order_app.test_client(), stack, sid, order_id=target, amount=3000
            ),
        )
        moved, edited, paid = results
        assert moved.status_code == 200 and paid.status_code == 200, [r.json for r in results]
        assert edited.status_code in (200, 409), edited.json
        tables = open_tables(stack, sid)
        # the edit landed first (then its lines merged), or the merge did (the stale version is
        # refused, or the PUT finds the table free and opens a new order there)
        edit_first = edited.status_code == 200 and edited.json["order_id"] == source_id
        cookies = 5 if edit_first else 2
        extra = tables.get(src, {})
        assert tables[dst] == {(m["쌀"], ""): 2, (m["쿠키"], ""): cookies}
        assert extra in ({}, {(m["쿠키"], ""): 5})
        final = detail(client, sid, target_id)
        assert final["paid_total"] == 3000 and final["total"] == 20_000 + cookies * 2500
        assert final["version"] == target_version + 2  # the merge and the payment


def test_the_stream_sees_transferred(stack, stream_url):  # noqa: F811
    sid = 8209
    m = cafe(stack, sid)
    client = stack.order_app.test_client()
    post(client, sid, 1, [{"item_id": m["쿠키"], "quantity": 1}])
    response = open_stream(stream_url, token_for(sid))
    reader = messages(response)
    next(reader)
    assert transfer(client, sid, 1, 2).status_code == 200
    got = take_events(reader, 1)
    response.close()
    assert got[0].event == "transferred"
    assert got[0].data["table_no"] == 2 and got[0].data["from_table"] == 1


# ---- the audit trail


def test_audit_trail_of_a_day_with_a_refund(stack, client, sale_down_client):
    sid = 8210
    m = cafe(stack, sid)
    manager = auth_headers(staff_token_for(sid, "manager", staff_id=7))
    cashier = auth_headers(staff_token_for(sid, "cashier", staff_id=8))
    order_id = post(client, sid, 1, [{"item_id": m["쿠키"], "quantity": 3}], headers=cashier).json[
        "order_id"
    ]
    assert (
        discount(
            client,
            sid,
            order_id,
            headers=manager,
            scope="order",
            kind="amount",
            value=500,
            reason="단골",
        ).status_code
        == 201
    )
    assert transfer(client, sid, 1, 4, headers=cashier).status_code == 200
    assert (
        move(
            client, sid, 4, 5, [{"item_id": m["쿠키"], "quantity": 1}], headers=cashier
        ).status_code
        == 200
    )
    assert put(client, sid, 4, [{"item_id": m["쿠키"], "quantity": 3}]).status_code == 200
    pay(client, stack, sid, order_id=order_id)
    trail = client.get(f"/orders/{order_id}/events", headers=h(sid))
    assert trail.status_code == 200, trail.json
    events = trail.json["events"]
    assert [e["type"] for e in events] == [
        "opened",
        "lines_changed",
        "discount_added",
        "transferred",
        "lines_moved",
        "lines_changed",
        "payment",
        "paid",
    ]
    assert [e["staff_id"] for e in events[:5]] == [8, 8, 7, 8, 8]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(e["at"].endswith("+09:00") for e in events)
    assert events[3]["data"]["from_table"] == 1 and events[3]["data"]["to_table"] == 4
    assert events[4]["data"]["to_table"] == 5 and events[4]["data"]["lines"][0]["quantity"] == 1
    assert events[2]["data"]["discount"]["value"] == 500
    assert "refunds_unavailable" not in trail.json
    REFUNDS[order_id] = [
        {
            "refund_id": 91,
            "sale_id": 501,
            "amount": 2500,
            "reason": "불량",
            "staff_id": 7,
            "created_at": "2999-01-01T10:00:00.000+09:00",
        }
    ]
    with_refund = client.get(f"/orders/{order_id}/events", headers=h(sid)).json
    assert with_refund["events"][:-1] == events
    assert with_refund["events"][-1] == {
        "seq": None,
        "type": "refund",
        "at": "2999-01-01T10:00:00.000+09:00",
        "staff_id": 7,
        "data": {"refund_id": 91, "sale_id": 501, "amount": 2500, "reason": "불량"},
    }
    down = sale_down_client.get(f"/orders/{order_id}/events", headers=h(sid))
    assert down.status_code == 200, down.json
    assert down.json["refunds_unavailable"] is True and down.json["events"] == events
    assert client.get(f"/orders/{order_id}/events", headers=h(8299)).status_code == 404
    assert client.get("/orders/99999999/events", headers=h(sid)).status_code == 404
