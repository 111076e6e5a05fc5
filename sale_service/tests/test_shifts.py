"""Cash drawer shifts with an in-memory order gateway (PostgreSQL for the sale tables): the Z
report to the won on a day of mixed tenders and refunds, one open shift per store under
concurrency, a payment racing a close, own-shift permissions, ``require_open_shift``, bad input.
"""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from devstack.testing import auth_headers, new_store_id, staff_token_for, token_for
from sale_service.app.models import CashMovement, Payment, Refund, Shift, ShiftSettings, db
from salesync_common import pricing
from salesync_common.auth import SERVICE_TOKEN_HEADER

CASHIER, OTHER_CASHIER, MANAGER = 41, 42, 51


def owner(store_id):
    return auth_headers(token_for(store_id))


def cashier(store_id, staff_id=CASHIER):
    return auth_headers(staff_token_for(store_id, "cashier", staff_id=staff_id))


def manager(store_id):
    return auth_headers(staff_token_for(store_id, "manager", staff_id=MANAGER))


def rows(app, model, **where):
    with app.app_context():
        found = list(db.session.scalars(select(model).filter_by(**where)))
        db.session.commit()
        return found


def snapshot(app, store_id):
    """Every shift and cash movement of the store, as values (what "nothing changed" compares)."""
    found = []
    for model in (Shift, CashMovement, ShiftSettings):
        for row in rows(app, model, store_id=store_id):
            found.append({column.name: getattr(row, column.key) for column in model.__table__.c})
    return found


def ok(response, status=200):
    assert response.status_code == status, response.json
    return response.json


def open_shift(client, store_id, headers=None, opening_float=100000):
    return ok(
        client.post(
            "/sales/shifts",
            json={"opening_float": opening_float},
            headers=headers or owner(store_id),
        ),
        201,
    )


def pay(client, headers, body):
    return ok(client.post("/sales/payments", json=body, headers=headers), 201)


def vat_line(price, quantity=1, ref=1):
    return [pricing.Line(unit_price=price, quantity=quantity, ref=ref)]


def test_z_report_to_the_won_on_a_day_of_mixed_tenders_refunds_and_cash_movements(
    app, client, orders, store
):
    # Before the shift: a card payment that belongs to no shift.
    before = orders.open_table(store, 9, lines=vat_line(5000))
    pay(
        client, owner(store), {"order_id": before.order_id, "amount": 5000, "payment_type": "other"}
    )

    shift = open_shift(client, store, cashier(store), opening_float=100000)
    assert shift["opened_by"] == CASHIER and shift["opening_float"] == 100000
    card = {"approval_no": "30125678", "issuer": "신한", "installment_months": 0}

    # A: 2 x 4,500 (VAT) by card, cashier. VAT round_half_up(9000/11) = 818.
    a = orders.open_table(store, 1, lines=vat_line(4500, 2))
    pay(
        client,
        cashier(store),
        {"order_id": a.order_id, "amount": 9000, "payment_type": "card", "card": card},
    )
    # B: 3 x 5,000 (VAT) less 1,000, 1 x 19,000 exempt, 10 % off the order (3,300: 1,400 on the
    # VAT line, 1,900 on the exempt one): subtotal 34,000, discounts 4,300, taxable 12,600 (VAT
    # 1,145), exempt 17,100, total 29,700. Split: 20,000 card (cashier), 9,700 cash from 10,000
    # (manager; change 300, which never enters the drawer) settles it: the sale is the manager's.
    b = orders.open_table(
        store,
        2,
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
    assert b.total_price == 29700
    pay(
        client,
        cashier(store),
        {"order_id": b.order_id, "amount": 20000, "payment_type": "card", "card": card},
    )
    paid_b = pay(
        client,
        manager(store),
        {"order_id": b.order_id, "amount": 9700, "payment_type": "cash", "tendered": 10000},
    )
    assert paid_b["change"] == 300
    # C: 12,000 (VAT 1,091) cash from 50,000, cashier (change 38,000).
    c = orders.open_table(store, 3, lines=vat_line(12000))
    paid_c = pay(
        client,
        cashier(store),
        {"order_id": c.order_id, "amount": 50000, "payment_type": "cash"},
    )
    assert (paid_c["amount"], paid_c["change"]) == (12000, 38000)
    # D: 7,000 (VAT 636) "other", the owner.
    d = orders.open_table(store, 4, lines=vat_line(7000))
    pay(client, owner(store), {"order_id": d.order_id, "amount": 7000, "payment_type": "other"})
    # E: 3,000 (VAT 273) cash, cashier; refunded in full later.
    e = orders.open_table(store, 5, lines=vat_line(3000))
    paid_e = pay(
        client, cashier(store), {"order_id": e.order_id, "amount": 3000, "payment_type": "cash"}
    )
    # F: 10,000, part-paid 4,000 cash by the cashier (no sale yet: cash, but no gross).
    f = orders.open_table(store, 6, lines=vat_line(10000))
    pay(client, cashier(store), {"order_id": f.order_id, "amount": 4000, "payment_type": "cash"})

    # Refunds by the manager: 2,000 of C (taxable 2,000, VAT 1,091 - vat(10,000)=909 -> 182),
    # all of E (3,000, VAT 273). Both go back in cash.
    partial = ok(
        client.post(
            f"/sales/{paid_c['sale_id']}/refunds",
            json={"amount": 2000, "reason": "식음"},
            headers=manager(store),
        ),
        201,
    )
    assert (partial["vat"], partial["tenders"]) == (182, [{"payment_type": "cash", "amount": 2000}])
    full = ok(
        client.post(
            f"/sales/{paid_e['sale_id']}/refunds",
            json={"reason": "주문 실수"},
            headers=manager(store),
        ),
        201,
    )
    assert (full["amount"], full["vat"]) == (3000, 273)

    ok(
        client.post(
            "/sales/shifts/current/cash-movements",
            json={"kind": "pay_in", "amount": 50000, "reason": "잔돈 보충"},
            headers=cashier(store),
        ),
        201,
    )
    ok(
        client.post(
            "/sales/shifts/current/cash-movements",
            json={"kind": "pay_out", "amount": 20000, "reason": "우유 구입"},
            headers=manager(store),
        ),
        201,
    )

    # The expected figures, by hand:
    # cash in: B 9,700 + C 12,000 + E 3,000 + F 4,000 = 28,700; cash out by refunds 5,000
    # expected cash = 100,000 + 28,700 - 5,000 + 50,000 - 20,000 = 153,700
    # card 9,000 + 20,000 = 29,000; other 7,000 (the payment before the shift is not in it)
    # gross 9,000 + 34,000 + 12,000 + 7,000 + 3,000 = 65,000; discounts 4,300; refunds 5,000
    # net 55,700 = taxable (43,600 - 5,000 = 38,600) + exempt 17,100
    # VAT 818 + 1,145 + 1,091 + 636 + 273 - 182 - 273 = 3,508; supply 38,600 - 3,508 = 35,092
    # orders 5, average check round_half_up(55,700 / 5) = 11,140; payments 7
    expected = {
        "opening_float": 100000,
        "cash_sales": 28700,
        "cash_refunds": 5000,
        "pay_ins": 50000,
        "pay_outs": 20000,
        "expected_cash": 153700,
        "card_sales": 29000,
        "card_refunds": 0,
        "card_total": 29000,
        "other_sales": 7000,
        "other_refunds": 0,
        "other_total": 7000,
        "cash_total": 23700,
        "gross_sales": 65000,
        "discount_total": 4300,
        "refund_total": 5000,
        "net_sales": 55700,
        "taxable_total": 38600,
        "vat": 3508,
        "supply_value": 35092,
        "exempt_total": 17100,
        "order_count": 5,
        "average_check": 11140,
        "payment_count": 7,
    }
    per_staff = [
        # the owner: D
        {
            "staff_id": None,
            "payment_count": 1,
            "taken": {"card": 0, "cash": 0, "other": 7000},
            "gross_sales": 7000,
            "discount_total": 0,
            "refund_total": 0,
            "net_sales": 7000,
            "taxable_total": 7000,
            "vat": 636,
            "supply_value": 6364,
            "exempt_total": 0,
            "order_count": 1,
        },
        # the cashier: payments A, B (card), C, E, F; sales A, C, E (VAT 818 + 1,091 + 273)
        {
            "staff_id": CASHIER,
            "payment_count": 5,
            "taken": {"card": 29000, "cash": 19000, "other": 0},
            "gross_sales": 24000,
            "discount_total": 0,
            "refund_total": 0,
            "net_sales": 24000,
            "taxable_total": 24000,
            "vat": 2182,
            "supply_value": 21818,
            "exempt_total": 0,
            "order_count": 3,
        },
        # the manager: B's last payment (so sale B), both refunds
        {
            "staff_id": MANAGER,
            "payment_count": 1,
            "taken": {"card": 0, "cash": 9700, "other": 0},
            "gross_sales": 34000,
            "discount_total": 4300,
            "refund_total": 5000,
            "net_sales": 24700,
            "taxable_total": 7600,
            "vat": 690,
            "supply_value": 6910,
            "exempt_total": 17100,
            "order_count": 1,
        },
    ]

    x_report = ok(client.get("/sales/shifts/current", headers=manager(store)))
    assert {key: x_report[key] for key in expected} == expected
    assert x_report["status"] == "open" and x_report["counted_cash"] is None
    assert x_report["per_staff"] == per_staff
    # a cashier sees its own row only
    assert ok(client.get("/sales/shifts/current", headers=cashier(store)))["per_staff"] == [
        per_staff[1]
    ]

    z_report = ok(
        client.post(
            "/sales/shifts/current/close", json={"counted_cash": 153000}, headers=cashier(store)
        )
    )
    assert {key: z_report[key] for key in expected} == expected
    assert (z_report["status"], z_report["counted_cash"], z_report["difference"]) == (
        "closed",
        153000,
        -700,
    )
    assert z_report["closed_by"] == CASHIER and z_report["closed_at"] is not None
    assert [(m["kind"], m["amount"], m["reason"]) for m in z_report["cash_movements"]] == [
        ("pay_in", 50000, "잔돈 보충"),
        ("pay_out", 20000, "우유 구입"),
    ]
    # read back: identical, also after later payments and refunds (they are in no shift)
    g = orders.open_table(store, 7, lines=vat_line(8000))
    later = pay(
        client, owner(store), {"order_id": g.order_id, "amount": 8000, "payment_type": "cash"}
    )
    ok(
        client.post(
            f"/sales/{later['sale_id']}/refunds",
            json={"amount": 1000, "reason": "늦은 환불"},
            headers=manager(store),
        ),
        201,
    )
    ok(
        client.post(
            f"/sales/{paid_c['sale_id']}/refunds",
            json={"amount": 1000, "reason": "늦은 환불"},
            headers=manager(store),
        ),
        201,
    )
    # the cashier closed it: its own per_staff row only; the manager reads every row
    assert z_report["per_staff"] == [per_staff[1]]
    assert ok(client.get(f"/sales/shifts/{shift['shift_id']}", headers=cashier(store))) == z_report
    assert ok(client.get(f"/sales/shifts/{shift['shift_id']}", headers=manager(store))) == (
        z_report | {"per_staff": per_staff}
    )
    assert [p.shift_id for p in rows(app, Payment, order_id=g.order_id)] == [None]
    assert sorted(r.shift_id is None for r in rows(app, Refund, store_id=store)) == [
        False,
        False,
        True,
        True,
    ]
    assert [p.shift_id for p in rows(app, Payment, order_id=before.order_id)] == [None]
    none_open = client.get("/sales/shifts/current", headers=owner(store))
    assert none_open.status_code == 409 and none_open.json["error"]["code"] == "no_open_shift"

    # the settlement text's view of the day
    day = datetime.now(ZoneInfo("Asia/Seoul")).date().isoformat()
    service = {SERVICE_TOKEN_HEADER: app.extensions["salesync"].tokens.token()}
    listed = ok(client.get(f"/internal/stores/{store}/shifts?date={day}", headers=service))
    assert [
        (s["shift_id"], s["status"], s["expected_cash"], s["counted_cash"], s["difference"])
        for s in listed["shifts"]
    ] == [(shift["shift_id"], "closed", 153700, 153000, -700)]
    assert ok(client.get(f"/internal/stores/{store}/shifts?date=2001-01-01", headers=service)) == {
        "shifts": []
    }
    bad = client.get(f"/internal/stores/{store}/shifts?date=2026-02-30", headers=service)
    assert bad.status_code == 422
    assert (
        client.get(f"/internal/stores/{store}/shifts?date={day}", headers=owner(store)).status_code
        == 401
    )


def at_once(app, calls):
    """Run ``(method, path, body, headers)`` calls in parallel threads, released together by a
    barrier; the responses' (status, json) in the order of ``calls``."""
    barrier = threading.Barrier(len(calls))
    answers: list[tuple[int, dict] | None] = [None] * len(calls)

    def run(index: int) -> None:
        method, path, body, headers = calls[index]
        client = app.test_client()
        barrier.wait()
        response = client.open(path, method=method, json=body, headers=headers)
        answers[index] = (response.status_code, response.json)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert None not in answers
    return answers


def test_two_terminals_opening_at_once_one_wins(app, orders):
    for _ in range(5):
        store_id = new_store_id()
        opening = ("POST", "/sales/shifts", {"opening_float": 50000}, owner(store_id))
        answers = at_once(app, [opening, opening])
        assert sorted(status for status, _ in answers) == [201, 409]
        assert [body["error"]["code"] for status, body in answers if status == 409] == [
            "shift_open"
        ]
        assert len(rows(app, Shift, store_id=store_id)) == 1


def test_a_payment_racing_a_close_is_in_exactly_one_place(app, orders):
    """Payments and the close run in parallel against PostgreSQL; each payment ends in the Z
    report (shift_id set, counted) or in no shift, and the report read back is the same."""
    outcomes = set()
    for _ in range(6):
        store_id = new_store_id()
        client = app.test_client()
        shift = open_shift(client, store_id, opening_float=0)
        tables = [
            orders.open_table(store_id, table, lines=vat_line(1000 + table))
            for table in range(1, 7)
        ]
        payments = [
            (
                "POST",
                "/sales/payments",
                {"order_id": order.order_id, "amount": order.total_price, "payment_type": "cash"},
                cashier(store_id),
            )
            for order in tables
        ]
        close = ("POST", "/sales/shifts/current/close", {"counted_cash": 0}, owner(store_id))
        answers = at_once(app, [*payments[:3], close, *payments[3:]])
        assert [status for status, _ in answers] == [201] * 3 + [200] + [201] * 3, answers
        z_report = answers[3][1]
        recorded = rows(app, Payment, store_id=store_id)
        assert len(recorded) == len(tables)
        assert {p.shift_id for p in recorded} <= {shift["shift_id"], None}
        inside = [p for p in recorded if p.shift_id == shift["shift_id"]]
        assert z_report["payment_count"] == len(inside) == z_report["order_count"]
        assert z_report["cash_sales"] == sum(p.amount for p in inside) == z_report["expected_cash"]
        assert z_report["difference"] == -z_report["expected_cash"]
        again = ok(client.get(f"/sales/shifts/{shift['shift_id']}", headers=owner(store_id)))
        assert again == z_report
        outcomes.add(len(inside))
    print(f"payments inside the closed shift per round: {sorted(outcomes)}")


def test_a_cashier_acts_only_on_its_own_shift(app, client, orders, store):
    shift = open_shift(client, store, cashier(store))
    other = cashier(store, OTHER_CASHIER)
    before = snapshot(app, store)
    calls = [
        (
            "POST",
            "/sales/shifts/current/cash-movements",
            {"kind": "pay_out", "amount": 1000, "reason": "x"},
        ),
        ("GET", "/sales/shifts/current", None),
        ("POST", "/sales/shifts/current/close", {"counted_cash": 0}),
        ("GET", f"/sales/shifts/{shift['shift_id']}", None),
        ("PUT", "/sales/shifts/settings", {"require_open_shift": True}),
        ("GET", "/sales/shifts/settings", None),
    ]
    for method, path, body in calls:
        response = client.open(path, method=method, json=body, headers=other)
        assert response.status_code == 403, (path, response.json)
        assert response.json["error"]["code"] == "forbidden"
    # the opener may not change the settings either (that is `shifts`)
    assert (
        client.put(
            "/sales/shifts/settings", json={"require_open_shift": True}, headers=cashier(store)
        ).status_code
        == 403
    )
    assert snapshot(app, store) == before
    assert rows(app, ShiftSettings, store_id=store) == []
    # a second shift while one is open: 409, whoever asks
    again = client.post("/sales/shifts", json={"opening_float": 0}, headers=other)
    assert again.status_code == 409 and again.json["error"]["code"] == "shift_open"
    # the manager may close the cashier's shift; then the other cashier opens its own
    ok(
        client.post(
            "/sales/shifts/current/close", json={"counted_cash": 100000}, headers=manager(store)
        )
    )
    mine = open_shift(client, store, other)
    ok(client.get(f"/sales/shifts/{mine['shift_id']}", headers=other))
    assert client.get(f"/sales/shifts/{shift['shift_id']}", headers=other).status_code == 403
    ok(client.get(f"/sales/shifts/{shift['shift_id']}", headers=cashier(store)))


def test_require_open_shift_refuses_payments_without_one(app, client, orders, store):
    assert ok(client.get("/sales/shifts/settings", headers=manager(store))) == {
        "require_open_shift": False
    }
    order = orders.open_table(store, 1, lines=vat_line(6000))
    assert ok(
        client.put(
            "/sales/shifts/settings", json={"require_open_shift": True}, headers=manager(store)
        )
    ) == {"require_open_shift": True}
    refused = client.post(
        "/sales/payments",
        json={"order_id": order.order_id, "amount": 1000, "payment_type": "cash"},
        headers=cashier(store),
    )
    assert refused.status_code == 409 and refused.json["error"]["code"] == "no_open_shift"
    first_contract = client.post(
        "/sales/",
        json={"table_no": 1, "payment_type": "카드", "total_price": 6000},
        headers=owner(store),
    )
    assert first_contract.status_code == 409
    assert first_contract.json["error"]["code"] == "no_open_shift"
    assert orders.pay_calls == 0 and rows(app, Payment, store_id=store) == []
    shift = open_shift(client, store, cashier(store))
    paid = client.post(
        "/sales/",
        json={"table_no": 1, "payment_type": "카드", "total_price": 6000},
        headers=owner(store),
    )
    assert paid.status_code == 201, paid.json
    assert [p.shift_id for p in rows(app, Payment, store_id=store)] == [shift["shift_id"]]
    # turned off: payments without a shift are fine again (the first contract's behaviour)
    ok(
        client.put(
            "/sales/shifts/settings", json={"require_open_shift": False}, headers=owner(store)
        )
    )
    ok(client.post("/sales/shifts/current/close", json={"counted_cash": 0}, headers=owner(store)))
    later = orders.open_table(store, 2, lines=vat_line(2000))
    pay(
        client, cashier(store), {"order_id": later.order_id, "amount": 2000, "payment_type": "cash"}
    )


@pytest.mark.parametrize(
    "path, body",
    [
        ("/sales/shifts", {"opening_float": -1}),
        ("/sales/shifts", {"opening_float": 10**12}),
        ("/sales/shifts", {"opening_float": "1000"}),
        ("/sales/shifts", {"opening_float": 1000.5}),
        ("/sales/shifts", {"opening_float": True}),
        ("/sales/shifts", {}),
        ("/sales/shifts/current/cash-movements", {"kind": "bonus", "amount": 1000, "reason": "x"}),
        ("/sales/shifts/current/cash-movements", {"kind": "pay_in", "amount": 0, "reason": "x"}),
        ("/sales/shifts/current/cash-movements", {"kind": "pay_in", "amount": -5, "reason": "x"}),
        (
            "/sales/shifts/current/cash-movements",
            {"kind": "pay_in", "amount": 10**9, "reason": "x"},
        ),
        ("/sales/shifts/current/cash-movements", {"kind": "pay_in", "amount": "5", "reason": "x"}),
        ("/sales/shifts/current/cash-movements", {"kind": "pay_in", "amount": 5, "reason": " "}),
        ("/sales/shifts/current/cash-movements", {"kind": "pay_in", "amount": 5}),
        (
            "/sales/shifts/current/cash-movements",
            {"kind": "pay_in", "amount": 5, "reason": "x" * 201},
        ),
        ("/sales/shifts/current/close", {"counted_cash": -1}),
        ("/sales/shifts/current/close", {"counted_cash": "0"}),
        ("/sales/shifts/current/close", {"counted_cash": 10**12}),
        ("/sales/shifts/current/close", {"counted_cash": None}),
    ],
)
def test_bad_shift_input_is_422_and_changes_nothing(app, client, orders, store, path, body):
    open_shift(client, store)
    before = snapshot(app, store)
    response = client.post(path, json=body, headers=owner(store))
    assert response.status_code == 422, response.json
    assert snapshot(app, store) == before
    bad_setting = client.put(
        "/sales/shifts/settings", json={"require_open_shift": "yes"}, headers=owner(store)
    )
    assert bad_setting.status_code == 422


def test_no_open_shift_and_foreign_shift_ids(app, client, orders, store):
    for path, body in (
        ("/sales/shifts/current/close", {"counted_cash": 0}),
        ("/sales/shifts/current/cash-movements", {"kind": "pay_in", "amount": 1, "reason": "x"}),
    ):
        response = client.post(path, json=body, headers=owner(store))
        assert response.status_code == 409 and response.json["error"]["code"] == "no_open_shift"
    assert rows(app, CashMovement, store_id=store) == []
    theirs = open_shift(client, new_store_id())
    for shift_id in (theirs["shift_id"], 2_000_000_000):
        response = client.get(f"/sales/shifts/{shift_id}", headers=owner(store))
        assert response.status_code == 404 and response.json["error"]["code"] == "shift_not_found"
    assert client.get("/sales/shifts/abc", headers=owner(store)).status_code == 404


def test_the_shift_endpoints_are_documented_with_examples(client):
    document = client.get("/openapi.json").json
    schemas = document["components"]["schemas"]
    for path, method, body, answer in (
        ("/sales/shifts", "post", "ShiftOpenIn", "201"),
        ("/sales/shifts/current/cash-movements", "post", "CashMovementIn", "201"),
        ("/sales/shifts/current", "get", None, "200"),
        ("/sales/shifts/current/close", "post", "ShiftCloseIn", "200"),
        ("/sales/shifts/{shift_id}", "get", None, "200"),
        ("/sales/shifts/settings", "put", "ShiftSettingsIn", "200"),
        ("/sales/shifts/settings", "get", None, "200"),
        ("/internal/stores/{store_id}/shifts", "get", None, "200"),
    ):
        operation = document["paths"][path][method]
        if not path.startswith("/internal"):
            assert operation["x-permission"] in ("own_shift", "shifts"), path
        if body is not None:
            assert "example" in schemas[body], body
        ref = operation["responses"][answer]["content"]["application/json"]["schema"]["$ref"]
        assert "example" in schemas[ref.rsplit("/", 1)[1]], path
    assert schemas["ShiftReportOut"]["example"]["difference"] == -1000
