"""v2 money on orders (PostgreSQL, the real item service): options, sold out, discounts, VAT,
the order detail, split, priced payments and daily totals net of discounts."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from devstack.testing import (
    auth_headers,
    count_queries,
    new_store_id,
    staff_token_for,
    token_for,
)
from order_service.app import daily_sales
from order_service.app.models import (
    DailyCategorySales,
    DailyItemSales,
    DailyOrderSales,
    Order,
    OrderDiscount,
    OrderEvent,
    OrderLine,
    db,
)
from salesync_common.timeutil import business_date, utcnow

from .test_internal import pay, svc


def h(store_id: int) -> dict[str, str]:
    return auth_headers(token_for(store_id))


def post(client, sid: int, table_no: int, carts: Any, headers: dict[str, str] | None = None):
    return client.post(
        "/orders/", json={"table_no": table_no, "carts": carts}, headers=headers or h(sid)
    )


def put(client, sid: int, table_no: int, carts: Any, **extra: Any):
    return client.put(
        "/orders/", json={"table_no": table_no, "carts": carts, **extra}, headers=h(sid)
    )


def discount(client, sid: int, order_id: int, headers: dict[str, str] | None = None, **body: Any):
    return client.post(f"/orders/{order_id}/discounts", json=body, headers=headers or h(sid))


def detail(client, sid: int, order_id: int) -> dict[str, Any]:
    response = client.get(f"/orders/{order_id}", headers=h(sid))
    assert response.status_code == 200, response.json
    return response.json


def state(stack) -> tuple:
    """Every order, line, discount and event row: compared around refused requests."""
    with stack.order_app.app_context():
        rows = tuple(
            db.session.execute(select(*columns).order_by(*columns)).all()
            for columns in (
                (Order.id, Order.version, Order.total_price, Order.status, Order.paid_total),
                (OrderLine.id, OrderLine.quantity, OrderLine.option_key),
                (OrderDiscount.id, OrderDiscount.value),
                (OrderEvent.id,),
            )
        )
        db.session.rollback()
        return rows


def events_of(stack, order_id: int) -> list[OrderEvent]:
    with stack.order_app.app_context():
        rows = list(
            db.session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq)
            )
        )
        db.session.commit()
        return rows


def cafe(stack, sid: int) -> dict[str, int]:
    """라떼 4500 with 사이즈 (required, one of) and 추가 (0-2); 쿠키 2500; 쌀 10000 (exempt)."""
    ids = stack.menu(sid, {"라떼": 4500, "쿠키": 2500, "쌀": 10_000, "행사": 1000})
    stack.item_put(sid, ids["쌀"], name="쌀", price=10_000, tax="exempt")
    size = stack.option_group(sid, ids["라떼"], "사이즈", 1, 1, {"레귤러": 0, "라지": 500})
    extra = stack.option_group(sid, ids["라떼"], "추가", 0, 2, {"샷": 500, "시럽": 300})
    cheap = stack.option_group(sid, ids["행사"], "할인", 0, 1, {"쿠폰": -1500})
    return {**ids, **size, **extra, **cheap}


def test_options_are_validated_and_lines_merge_on_item_and_options(stack, client):
    sid = 301
    m = cafe(stack, sid)
    latte = m["라떼"]
    before = state(stack)
    refused = {
        "required group missing": [{"item_id": latte, "quantity": 1}],
        "two of a one-of group": [
            {"item_id": latte, "quantity": 1, "options": [m["레귤러"], m["라지"]]}
        ],
        "option listed twice": [
            {"item_id": latte, "quantity": 1, "options": [m["레귤러"], m["샷"], m["샷"]]}
        ],
        "another item's option": [
            {"item_id": latte, "quantity": 1, "options": [m["레귤러"], m["쿠폰"]]}
        ],
        "unknown option": [{"item_id": latte, "quantity": 1, "options": [m["레귤러"], 999_999]}],
        "negative unit price": [{"item_id": m["행사"], "quantity": 1, "options": [m["쿠폰"]]}],
        "options on an item without groups": [
            {"item_id": m["쿠키"], "quantity": 1, "options": [m["샷"]]}
        ],
    }
    for case, carts in refused.items():
        response = post(client, sid, 1, carts)
        assert response.status_code == 409, case
        assert response.json["error"]["code"] == "options_invalid", case
    assert put(client, sid, 1, refused["two of a one-of group"]).status_code == 409
    assert state(stack) == before  # nothing written by any refusal
    # wrong types are 422
    assert (
        post(client, sid, 1, [{"item_id": latte, "quantity": 1, "options": "1"}]).status_code == 422
    )
    assert (
        post(client, sid, 1, [{"item_id": latte, "quantity": 1, "options": ["1"]}]).status_code
        == 422
    )

    large_shot = [m["샷"], m["라지"]]
    created = post(
        client,
        sid,
        1,
        [
            {"item_id": latte, "quantity": 1, "options": large_shot},
            {"item_id": latte, "quantity": 2, "options": [m["레귤러"]]},
            {"item_id": latte, "quantity": 1, "options": list(reversed(large_shot))},
            {"item_id": m["쿠키"], "quantity": 1},
        ],
    )
    assert created.status_code == 200, created.json
    order_id = created.json["order_id"]
    # the same item and options again add to that line; other options make another line
    post(client, sid, 1, [{"item_id": latte, "quantity": 1, "options": large_shot}])
    order = detail(client, sid, order_id)
    lines = {
        (line["item_id"], tuple(o["option_id"] for o in line["options"])): line
        for line in order["lines"]
    }
    assert len(lines) == 3
    big = lines[(latte, tuple(sorted(large_shot)))]
    assert big["quantity"] == 3 and big["unit_price"] == 4500 + 500 + 500
    assert big["options"] == [
        {
            "option_id": m["라지"],
            "group_id": big["options"][0]["group_id"],
            "name": "라지",
            "price_delta": 500,
        },
        {
            "option_id": m["샷"],
            "group_id": big["options"][1]["group_id"],
            "name": "샷",
            "price_delta": 500,
        },
    ]
    assert big["category_name"] and big["tax"] == "vat"
    assert lines[(latte, (m["레귤러"],))]["quantity"] == 2
    assert order["total"] == 3 * 5500 + 2 * 4500 + 2500
    # the first contract's views: one cart entry per line, same shape
    table = client.get("/orders/unpaids/1", headers=h(sid)).json
    assert table["total_price"] == order["total"]
    assert sorted(c["quantity"] for c in table["carts"] if c["item_id"] == latte) == [2, 3]
    assert all(set(c) == {"item_id", "item_name", "quantity"} for c in table["carts"])
    # lines_changed carries line ids and options
    changed = json.loads(events_of(stack, order_id)[-1].data)
    assert {(line["line_id"], tuple(line["options"])) for line in changed["lines"]} == {
        (line["line_id"], tuple(sorted(o["option_id"] for o in line["options"])))
        for line in order["lines"]
    }
    assert changed["total"] == order["total"]


def test_sold_out_item_is_refused_and_nothing_is_written(stack, client):
    sid = 302
    ids = stack.menu(sid, {"오늘의 국밥": 9000, "공기밥": 1000})
    order_id = post(client, sid, 2, [{"item_id": ids["공기밥"], "quantity": 1}]).json["order_id"]
    stack.item_put(sid, ids["오늘의 국밥"], name="오늘의 국밥", price=9000, sold_out=True)
    stack.deliver_menu_events()
    before = state(stack)
    for carts in (
        [{"item_id": ids["오늘의 국밥"], "quantity": 1}],
        [{"item_id": ids["공기밥"], "quantity": 1}, {"item_id": ids["오늘의 국밥"], "quantity": 1}],
    ):
        for response in (
            post(client, sid, 2, carts),
            put(client, sid, 2, carts),
            post(client, sid, 3, carts),
        ):
            assert response.status_code == 409 and response.json["error"]["code"] == "sold_out"
    assert state(stack) == before
    assert detail(client, sid, order_id)["total"] == 1000


def test_vat_exempt_options_and_discounts_to_the_won(stack, client):
    """A hand-computed order (numbers in the comments)."""
    sid = 303
    m = cafe(stack, sid)
    order_id = post(
        client,
        sid,
        4,
        [
            {"item_id": m["라떼"], "quantity": 2, "options": [m["레귤러"], m["샷"]]},  # 5000 x 2
            {"item_id": m["쌀"], "quantity": 1},  # 10,000 exempt
            {"item_id": m["쿠키"], "quantity": 3},  # 2500 x 3
        ],
    ).json["order_id"]
    staff = auth_headers(staff_token_for(sid, "manager", staff_id=77))
    line = discount(
        client,
        sid,
        order_id,
        staff,
        scope="line",
        item_id=m["라떼"],
        kind="percent",
        value=10,
        reason="쿠폰",
    )
    assert line.status_code == 201, line.json  # 10% of 10,000 = 1,000
    whole = discount(client, sid, order_id, scope="order", kind="amount", value=2000, reason="단골")
    assert whole.status_code == 201, whole.json
    order = whole.json
    assert order == detail(client, sid, order_id)
    # left after the line discount: 9,000 / 10,000 / 7,500 = 26,500; 2,000 shared:
    # floor(2000*9000/26500)=679, floor(..10000..)=754, floor(..7500..)=566: 1,999, +1 to 쌀
    by_item = {line["item_id"]: line for line in order["lines"]}
    assert [
        (
            by_item[i]["amount"],
            by_item[i]["line_discount"],
            by_item[i]["order_discount"],
            by_item[i]["net"],
        )
        for i in (m["라떼"], m["쌀"], m["쿠키"])
    ] == [(10_000, 1000, 679, 8321), (10_000, 0, 755, 9245), (7500, 0, 566, 6934)]
    assert by_item[m["쌀"]]["tax"] == "exempt"
    # taxable 8,321 + 6,934 = 15,255; VAT round_half_up(15,255 / 11) = 1,387
    assert {
        k: order[k]
        for k in (
            "subtotal",
            "discount_total",
            "total",
            "taxable_total",
            "vat",
            "supply_value",
            "exempt_total",
            "balance",
        )
    } == {
        "subtotal": 27_500,
        "discount_total": 3000,
        "total": 24_500,
        "taxable_total": 15_255,
        "vat": 1387,
        "supply_value": 13_868,
        "exempt_total": 9245,
        "balance": 24_500,
    }
    line_discount, order_discount = order["discounts"]
    assert (line_discount["amount"], line_discount["staff_id"], line_discount["scope"]) == (
        1000,
        77,
        "line",
    )
    assert line_discount["line_id"] == by_item[m["라떼"]]["line_id"]
    assert (order_discount["amount"], order_discount["staff_id"], order_discount["line_id"]) == (
        2000,
        None,
        None,
    )
    # the first contract's total_price is the total after discounts
    assert client.get("/orders/unpaids/4", headers=h(sid)).json["total_price"] == 24_500
    added = [e for e in events_of(stack, order_id) if e.type == "discount_added"]
    assert [e.staff_id for e in added] == [77, None]
    assert json.loads(added[0].data)["discount"]["discount_id"] == line_discount["discount_id"]

    # removing the order discount gives the money back; its event records who removed it
    removed = client.delete(
        f"/orders/{order_id}/discounts/{order_discount['discount_id']}", headers=staff
    )
    assert removed.status_code == 200 and removed.json["total"] == 26_500
    assert events_of(stack, order_id)[-1].type == "discount_removed"
    assert events_of(stack, order_id)[-1].staff_id == 77

    # split: 26,500 in 3 = 8,834 + 8,833 + 8,833
    split = client.get(f"/orders/{order_id}/split?ways=3", headers=h(sid))
    assert split.status_code == 200 and split.json == {
        "balance": 26_500,
        "shares": [8834, 8833, 8833],
    }
    for ways in ("0", "101", "x", "-1", ""):
        assert (
            client.get(f"/orders/{order_id}/split?ways={ways}", headers=h(sid)).status_code == 422
        )
    assert client.get(f"/orders/{order_id}/split?ways=2", headers=h(sid + 1)).status_code == 404

    # the payment answers the order's pricing; paid, the daily item rows carry net, gross, discount
    paid = pay(client, stack, sid, order_id=order_id)
    assert paid.status_code == 200, paid.json
    assert paid.json["pricing"] == {k: removed.json[k] for k in paid.json["pricing"]}
    assert "lines" not in paid.json


def test_discount_refusals_write_nothing(stack, client):
    sid = 304
    ids = stack.menu(sid, {"파스타": 12_000, "샐러드": 8000})
    order_id = post(
        client,
        sid,
        5,
        [{"item_id": ids["파스타"], "quantity": 1}, {"item_id": ids["샐러드"], "quantity": 1}],
    ).json["order_id"]
    foreign_item = stack.menu(sid + 1, {"피자": 1000})["피자"]
    other = post(client, sid + 1, 5, [{"item_id": foreign_item, "quantity": 1}])
    before = state(stack)
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        (
            {
                "scope": "line",
                "item_id": ids["파스타"],
                "kind": "amount",
                "value": 12_001,
                "reason": "x",
            },
            409,
            "discount_exceeds_base",
        ),
        (
            {"scope": "order", "kind": "amount", "value": 20_001, "reason": "x"},
            409,
            "discount_exceeds_base",
        ),
        (
            {"scope": "order", "kind": "percent", "value": 101, "reason": "x"},
            409,
            "discount_exceeds_base",
        ),
        ({"scope": "order", "kind": "amount", "value": 0, "reason": "x"}, 422, None),
        ({"scope": "order", "kind": "amount", "value": -500, "reason": "x"}, 422, None),
        ({"scope": "order", "kind": "amount", "value": 10**15, "reason": "x"}, 422, None),
        ({"scope": "order", "kind": "amount", "value": "1000", "reason": "x"}, 422, None),
        ({"scope": "order", "kind": "amount", "value": 1.5, "reason": "x"}, 422, None),
        ({"scope": "order", "kind": "amount", "value": True, "reason": "x"}, 422, None),
        ({"scope": "order", "kind": "amount", "value": 100, "reason": "  "}, 422, None),
        ({"scope": "order", "kind": "amount", "value": 100}, 422, None),
        ({"scope": "order", "kind": "coupon", "value": 100, "reason": "x"}, 422, None),
        ({"scope": "table", "kind": "amount", "value": 100, "reason": "x"}, 422, None),
        ({"scope": "line", "kind": "amount", "value": 100, "reason": "x"}, 422, None),
        (
            {
                "scope": "order",
                "item_id": ids["파스타"],
                "kind": "amount",
                "value": 100,
                "reason": "x",
            },
            422,
            None,
        ),
        (
            {"scope": "line", "item_id": 999_999, "kind": "amount", "value": 100, "reason": "x"},
            404,
            "line_not_found",
        ),
        (
            {"scope": "line", "line_id": 999_999, "kind": "amount", "value": 100, "reason": "x"},
            404,
            "line_not_found",
        ),
    ]
    for body, status, code in cases:
        response = discount(client, sid, order_id, **body)
        assert response.status_code == status, (body, response.json)
        if code:
            assert response.json["error"]["code"] == code, body
    # foreign and unknown orders
    foreign = discount(
        client, sid, other.json["order_id"], scope="order", kind="amount", value=1, reason="x"
    )
    assert foreign.status_code == 404 and foreign.json["error"]["code"] == "order_not_found"
    assert (
        discount(
            client, sid, 2_000_000_000, scope="order", kind="amount", value=1, reason="x"
        ).status_code
        == 404
    )
    assert client.get(f"/orders/{other.json['order_id']}", headers=h(sid)).status_code == 404
    assert client.delete(f"/orders/{order_id}/discounts/999999", headers=h(sid)).status_code == 404
    # a cashier may not discount
    cashier = auth_headers(staff_token_for(sid, "cashier", staff_id=5))
    assert (
        discount(
            client, sid, order_id, cashier, scope="order", kind="amount", value=1, reason="x"
        ).status_code
        == 403
    )
    assert state(stack) == before

    # once paid in part, nothing may bring the total under what was paid
    assert pay(client, stack, sid, order_id=order_id, amount=15_000).status_code == 200
    before = state(stack)
    below = discount(client, sid, order_id, scope="order", kind="amount", value=5001, reason="x")
    assert below.status_code == 409 and below.json["error"]["code"] == "below_paid_total"
    shrink = put(client, sid, 5, [{"item_id": ids["파스타"], "quantity": 1}])
    assert shrink.status_code == 409 and shrink.json["error"]["code"] == "below_paid_total"
    assert state(stack) == before
    exact = discount(client, sid, order_id, scope="order", kind="amount", value=5000, reason="x")
    assert exact.status_code == 201 and exact.json["balance"] == 0 and exact.json["total"] == 15_000
    # a paid order takes no discount
    assert pay(client, stack, sid, order_id=order_id, amount=None).status_code in (200, 409)


def test_put_keeps_line_ids_and_their_discounts(stack, client):
    sid = 305
    ids = stack.menu(sid, {"떡볶이": 2000, "순대": 3000})
    order_id = post(
        client,
        sid,
        6,
        [{"item_id": ids["떡볶이"], "quantity": 2}, {"item_id": ids["순대"], "quantity": 2}],
    ).json["order_id"]
    first = detail(client, sid, order_id)
    ddeok = next(line for line in first["lines"] if line["item_id"] == ids["떡볶이"])
    amount = discount(
        client,
        sid,
        order_id,
        scope="line",
        line_id=ddeok["line_id"],
        kind="amount",
        value=3000,
        reason="x",
    )
    assert amount.status_code == 201
    percent = discount(
        client,
        sid,
        order_id,
        scope="line",
        item_id=ids["순대"],
        kind="percent",
        value=50,
        reason="y",
    )
    assert percent.json["total"] == 4000 - 3000 + 6000 - 3000
    # shrinking under the amount discount's base is refused (remove the discount first)
    before = state(stack)
    refused = put(
        client,
        sid,
        6,
        [{"item_id": ids["떡볶이"], "quantity": 1}, {"item_id": ids["순대"], "quantity": 2}],
    )
    assert refused.status_code == 409 and refused.json["error"]["code"] == "discount_exceeds_base"
    assert state(stack) == before
    # the percent discount follows the quantity; the line keeps its id
    grown = put(
        client,
        sid,
        6,
        [{"item_id": ids["떡볶이"], "quantity": 2}, {"item_id": ids["순대"], "quantity": 4}],
    )
    assert grown.status_code == 200
    after = detail(client, sid, order_id)
    assert {line["line_id"] for line in after["lines"]} == {
        line["line_id"] for line in first["lines"]
    }
    assert after["total"] == 1000 + 6000 and len(after["discounts"]) == 2
    # dropping a line drops its line discounts (with a discount_removed event)
    dropped = put(client, sid, 6, [{"item_id": ids["순대"], "quantity": 4}])
    assert dropped.status_code == 200
    after = detail(client, sid, order_id)
    assert [d["item_id"] for d in after["discounts"]] == [ids["순대"]] and after["total"] == 6000
    types = [e.type for e in events_of(stack, order_id)]
    assert types[-2:] == ["discount_removed", "lines_changed"]


def test_concurrent_discounts_and_edits_lose_nothing(stack):
    sid = 306
    ids = stack.menu(sid, {"피자": 20_000})
    client = stack.order_app.test_client()
    order_id = post(client, sid, 8, [{"item_id": ids["피자"], "quantity": 5}]).json["order_id"]
    start = detail(client, sid, order_id)["version"]
    barrier = threading.Barrier(8)
    results: list[Any] = []

    def terminal(n: int) -> None:
        own = stack.order_app.test_client()
        barrier.wait()
        if n % 2:
            results.append(
                discount(
                    own, sid, order_id, scope="order", kind="amount", value=100 + n, reason=f"t{n}"
                )
            )
        else:
            results.append(
                put(own, sid, 8, [{"item_id": ids["피자"], "quantity": 5 + n}], version=start)
            )

    threads = [threading.Thread(target=terminal, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [r.status_code for r in results]
    assert set(statuses) <= {200, 201, 409} and 500 not in statuses
    added = [r for r in results if r.status_code == 201]
    edits = [r for r in results if r.status_code == 200]
    assert len(added) == 4  # discounts lock the order: each one lands
    assert len(edits) <= 1  # PUTs carrying the same version: at most one wins
    final = detail(client, sid, order_id)
    assert final["version"] == start + len(added) + len(edits)
    assert sorted(d["value"] for d in final["discounts"]) == [101, 103, 105, 107]
    assert final["total"] == final["subtotal"] - 416
    with stack.order_app.app_context():
        stored = db.session.get(Order, order_id)
        assert stored.total_price == final["total"]
        db.session.rollback()
    versions = [
        json.loads(e.data).get("version")
        for e in events_of(stack, order_id)
        if e.type == "lines_changed"
    ]
    assert versions == sorted(versions)


def test_hot_path_queries(stack, client):
    """POST to an open order: the read model (1), lock (1), lines (1), discounts (1, new in v2:
    the total is after discounts), the writes and the event. An order opened by the POST skips
    the lines and discounts reads."""
    sid = 307
    ids = stack.menu(sid, {"김밥": 3000})
    stack.deliver_menu_events()
    post(client, sid, 1, [{"item_id": ids["김밥"], "quantity": 1}])
    with stack.order_app.app_context(), count_queries(db.engine) as again:
        assert post(client, sid, 1, [{"item_id": ids["김밥"], "quantity": 1}]).status_code == 200
    selects = [s for s in again if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 4, selects


def test_put_writes_after_its_guarded_update_in_one_round_trip(stack, client):
    """PUT changing a quantity: the order, its lines and discounts read; the conditional UPDATE
    alone (its row count decides 409); then the new quantity and the event as one message."""
    sid = new_store_id()
    ids = stack.menu(sid, {"김밥": 3000, "라면": 4000})
    stack.deliver_menu_events()
    cart = [{"item_id": ids["김밥"], "quantity": 1}, {"item_id": ids["라면"], "quantity": 1}]
    post(client, sid, 1, cart)
    cart[0]["quantity"] = 3
    with stack.order_app.app_context(), count_queries(db.engine) as sent:
        assert put(client, sid, 1, cart).status_code == 200
    # (the menu model may be filled from a direct lookup first: not the order's writes)
    writes = [s for s in sent if s.lstrip().startswith(("UPDATE", "INSERT INTO order", "WITH"))]
    first_words = [[" ".join(part.split()[:2]) for part in s.split(";\n")] for s in writes]
    assert first_words == [["UPDATE orders"], ["UPDATE order_lines", "WITH reserved"]], writes


def test_daily_totals_with_discounts_match_a_rebuild(stack, client):
    sid = 308
    m = cafe(stack, sid)
    for table, value in ((1, 1000), (2, 333)):
        order_id = post(
            client,
            sid,
            table,
            [
                {"item_id": m["라떼"], "quantity": 1, "options": [m["라지"]]},
                {"item_id": m["라떼"], "quantity": 2, "options": [m["레귤러"], m["시럽"]]},
                {"item_id": m["쌀"], "quantity": 1},
            ],
        ).json["order_id"]
        discount(
            client,
            sid,
            order_id,
            scope="line",
            item_id=m["쌀"],
            kind="percent",
            value=5,
            reason="a",
        )
        assert (
            discount(
                client, sid, order_id, scope="order", kind="amount", value=value, reason="b"
            ).status_code
            == 201
        )
        assert pay(client, stack, sid, order_id=order_id).status_code == 200
    today = business_date(utcnow())
    rows = client.get(
        f"/internal/stores/{sid}/item-sales?start={today - timedelta(days=1)}&end={today}",
        headers={"X-Service-Token": stack.order_app.extensions["salesync"].tokens.token()},
    ).json["rows"]
    latte = next(r for r in rows if r["item_id"] == m["라떼"])
    # 라떼 lines: 5000 + 2 x 4800 = 14,600 per order (two lines of one item, one row)
    assert latte["gross"] == 2 * 14_600 and latte["quantity"] == 6
    for row in rows:
        assert row["sales_volume"] == row["gross"] - row["discount"]
    with stack.order_app.app_context():
        paid_total = sum(
            db.session.scalars(
                select(Order.total_price).where(Order.store_id == sid, Order.status == "paid")
            )
        )
        kept = db.session.execute(
            select(DailyItemSales.__table__)
            .where(DailyItemSales.store_id == sid)
            .order_by(DailyItemSales.item_id)
        ).all()
        daily_sales.rebuild(db.session, sid)
        rebuilt = db.session.execute(
            select(DailyItemSales.__table__)
            .where(DailyItemSales.store_id == sid)
            .order_by(DailyItemSales.item_id)
        ).all()
        db.session.commit()
    assert sum(row["sales_volume"] for row in rows) == paid_total  # items sum to the orders
    assert rebuilt == kept


def _summary_rows(stack, sid: int) -> tuple[list[Any], list[Any]]:
    with stack.order_app.app_context():
        rows = [
            db.session.execute(
                select(model.__table__)
                .where(model.store_id == sid)
                .order_by(*model.__table__.primary_key.columns)
            ).all()
            for model in (DailyOrderSales, DailyCategorySales)
        ]
        db.session.commit()
    return rows[0], rows[1]


def test_order_summary_from_the_rollup_matches_the_orders_and_a_rebuild(stack, client):
    sid = 309
    m = cafe(stack, sid)
    first = post(
        client,
        sid,
        1,
        [
            {"item_id": m["라떼"], "quantity": 2, "options": [m["라지"], m["샷"]]},
            {"item_id": m["쌀"], "quantity": 1},
        ],
    ).json["order_id"]
    assert discount(client, sid, first, scope="order", kind="amount", value=1001, reason="단골")
    second = post(client, sid, 2, [{"item_id": m["쿠키"], "quantity": 3}]).json["order_id"]
    discount(
        client, sid, second, scope="line", item_id=m["쿠키"], kind="percent", value=10, reason="x"
    )
    post(client, sid, 3, [{"item_id": m["쿠키"], "quantity": 1}])  # stays open: not counted

    def staff_pays(order_id: int, amount: int | None, staff_id: int | None) -> None:
        body: dict[str, Any] = {
            "payment_ref": str(uuid.uuid4()),
            "payment_type": "card",
            "order_id": order_id,
            "staff_id": staff_id,
        }
        if amount is not None:
            body["amount"] = amount
        answer = client.post(f"/internal/stores/{sid}/payments", json=body, headers=svc(stack))
        assert answer.status_code == 200, answer.json

    staff_pays(first, 5000, 7)  # a part payment by staff 7; staff 8 settles the order
    staff_pays(first, None, 8)
    staff_pays(second, None, None)  # the owner
    orders = [detail(client, sid, first), detail(client, sid, second)]
    today = business_date(utcnow())
    summary = client.get(
        f"/internal/stores/{sid}/order-summary?start={today - timedelta(days=1)}&end={today}",
        headers=svc(stack),
    )
    assert summary.status_code == 200, summary.json
    body = summary.json
    for name in ("discount_total", "total", "taxable_total", "vat", "supply_value", "exempt_total"):
        assert body[name] == sum(order[name] for order in orders), name
    assert body["gross_sales"] == sum(order["subtotal"] for order in orders)
    assert body["order_count"] == 2
    assert body["vat"] == sum(order["vat"] for order in orders)  # once per order, then summed
    assert [row["hour"] for row in body["by_hour"]] == list(range(24))
    hour = daily_sales.local_hour(utcnow(), "Asia/Seoul")
    assert body["by_hour"][hour]["order_count"] == 2  # (the test runs within one hour)
    assert sum(row["total"] for row in body["by_hour"]) == body["total"]
    assert body["by_staff"] == [
        {"staff_id": None, "order_count": 1, "total": orders[1]["total"]},
        {"staff_id": 8, "order_count": 1, "total": orders[0]["total"]},
    ]
    assert sum(row["net"] for row in body["by_category"]) == body["total"]
    assert sum(row["gross"] for row in body["by_category"]) == body["gross_sales"]
    assert sum(row["quantity"] for row in body["by_category"]) == 6
    assert all(row["category_id"] is not None for row in body["by_category"])
    # another period is empty; an earlier year too
    empty = client.get(
        f"/internal/stores/{sid}/order-summary?start=2020-01-01&end=2020-12-31",
        headers=svc(stack),
    ).json
    assert empty["order_count"] == 0 and empty["by_category"] == [] and empty["by_staff"] == []
    assert len(empty["by_hour"]) == 24
    kept = _summary_rows(stack, sid)
    with stack.order_app.app_context():
        daily_sales.rebuild(db.session, sid)
        db.session.commit()
    assert _summary_rows(stack, sid) == kept
    assert client.get(
        f"/internal/stores/{sid}/order-summary?start={today}&end={today - timedelta(days=1)}",
        headers=svc(stack),
    ).status_code in (400, 422)
