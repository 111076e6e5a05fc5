"""A shift through the public origin (nginx) of the distributed stack (issue 14).

The owner creates a manager and two cashiers with PINs; each opens a PIN session. Cashier A opens
the shift with a float; orders are taken by both cashiers; a till watching ``GET /orders/stream``
sees a table transfer, a merge and a line move in order; a pay-out; payments by both cashiers
(cash with change, card + cash); the X report; a cashier refused a refund (403, nothing changed);
the manager refunds; cashier A closes with counted cash short of the expected; the Z report; the
day's summary and the settlement text with the shift's cash difference.

Every expected figure is computed here from the menu prices with plain integer arithmetic.
"""

from __future__ import annotations

import uuid

import pytest

from devstack.sse import messages, open_stream, take_events
from devstack.stack import Stack

from .conftest import Frontend, seoul_today
from .test_journey import ok, sms_from_backend
from .test_restaurant_day import menu_events_handled, vat_of, wait_for_menu_model

pytestmark = pytest.mark.e2e

PHONE = "01055501414"
STORE_NAME = "교대 국밥"
GUKBAP, SOJU = 9000, 5000
OPENING_FLOAT, PAY_OUT = 100_000, 3_000


def staff_frontend(
    stack: Stack, owner: Frontend, name: str, role: str, pin: str
) -> tuple[Frontend, int]:
    """Creates the staff member (owner) and opens its PIN session: a Frontend with its token."""
    created = ok(owner.post("/stores/staff", {"name": name, "role": role, "pin": pin}), 201)
    assert set(created) >= {"staff_id", "name", "role"} and "pin" not in created
    session = ok(owner.post("/stores/staff/session", {"pin": pin}))
    assert (session["staff_id"], session["role"]) == (created["staff_id"], role)
    staff = Frontend(stack.url())
    staff.token = session["access_token"]
    return staff, created["staff_id"]


def test_a_shift(stack: Stack, moto_sns: str) -> None:
    today = seoul_today()
    owner = Frontend(stack.url())
    menu_before = menu_events_handled(stack)

    # -- the owner: store, menu, staff --------------------------------------------------------
    created = ok(
        owner.post(
            "/stores/",
            {
                "username": f"shift-{uuid.uuid4().hex[:10]}",
                "password": "shift-journey",
                "owner_name": "최사장",
                "phone": PHONE,
                "store_name": STORE_NAME,
                "address": "서울시 종로구 종로 14",
                "store_type": "일반음식점",
            },
        ),
        201,
    )
    owner.token = created["token"]["access_token"]
    owner.csrf = created["token"]["csrf_token"]
    category = ok(owner.post("/categories/", {"name": "메뉴"}), 201)["id"]
    gukbap = ok(
        owner.post(f"/categories/{category}/items", {"name": "국밥", "price": GUKBAP}), 201
    )["id"]
    soju = ok(owner.post(f"/categories/{category}/items", {"name": "소주", "price": SOJU}), 201)[
        "id"
    ]
    manager, manager_id = staff_frontend(stack, owner, "김매니저", "manager", "4821")
    cashier_a, cashier_a_id = staff_frontend(stack, owner, "이알바", "cashier", "1357")
    cashier_b, cashier_b_id = staff_frontend(stack, owner, "박알바", "cashier", "24680")
    duplicate_pin = owner.post("/stores/staff", {"name": "중복", "role": "cashier", "pin": "1357"})
    assert duplicate_pin.status_code == 409
    wrong_pin = owner.post("/stores/staff/session", {"pin": "9999"})
    assert wrong_pin.status_code == 401 and wrong_pin.json()["error"]["code"] == "invalid_pin"
    staff = ok(owner.get("/stores/staff"))["staff"]
    assert sorted((s["name"], s["role"]) for s in staff) == [
        ("김매니저", "manager"),
        ("박알바", "cashier"),
        ("이알바", "cashier"),
    ]
    # a cashier is no back office
    forbidden_menu = cashier_a.post(
        f"/categories/{category}/items", {"name": "맥주", "price": 5000}
    )
    assert forbidden_menu.status_code == 403
    assert forbidden_menu.json()["error"]["code"] == "forbidden"
    wait_for_menu_model(stack, menu_before, changes=2)

    # -- cashier A opens the shift with the float ----------------------------------------------
    shift = ok(cashier_a.post("/sales/shifts", {"opening_float": OPENING_FLOAT}), 201)
    shift_id = shift["shift_id"]
    assert (shift["opening_float"], shift["opened_by"]) == (OPENING_FLOAT, cashier_a_id)
    second = cashier_b.post("/sales/shifts", {"opening_float": 50_000})
    assert second.status_code == 409 and second.json()["error"]["code"] == "shift_open"

    # -- orders by two staff -------------------------------------------------------------------
    table1 = ok(
        cashier_a.post(
            "/orders/",
            {
                "table_no": 1,
                "carts": [{"item_id": gukbap, "quantity": 2}, {"item_id": soju, "quantity": 2}],
            },
        )
    )["order_id"]
    table2 = ok(
        cashier_b.post("/orders/", {"table_no": 2, "carts": [{"item_id": gukbap, "quantity": 1}]})
    )["order_id"]
    table3 = ok(
        cashier_b.post("/orders/", {"table_no": 3, "carts": [{"item_id": soju, "quantity": 1}]})
    )["order_id"]
    assert ok(owner.get(f"/orders/{table1}"))["staff_id"] == cashier_a_id
    assert ok(owner.get(f"/orders/{table2}"))["staff_id"] == cashier_b_id

    # -- table moves, watched live by a till on the stream -------------------------------------
    assert owner.token is not None
    stream = open_stream(stack.url(), owner.token)
    assert stream.status_code == 200, stream.text
    reader = messages(stream)
    next(reader)  # connected: the stream starts at the next change
    moved = ok(cashier_a.post("/orders/tables/1/transfer", {"to_table": 5}))
    assert (moved["result"], moved["order_id"], moved["to_table"]) == ("moved", table1, 5)
    merged = ok(cashier_b.post("/orders/tables/3/transfer", {"to_table": 2}))
    assert (merged["result"], merged["order_id"], merged["merged_from_order_id"]) == (
        "merged",
        table2,
        table3,
    )
    ok(
        manager.post(
            "/orders/tables/5/move-lines",
            {"to_table": 2, "lines": [{"item_id": soju, "quantity": 1}]},
        )
    )
    seen = take_events(reader, 5)
    stream.close()
    seqs = [int(m.id or 0) for m in seen]
    assert seqs == list(range(seqs[0], seqs[0] + 5))  # gapless, in commit order
    assert [
        (m.event, m.data["type"], m.data["order_id"], m.data["table_no"], m.data["staff_id"])
        for m in seen
    ] == [
        ("transferred", "transferred", table1, 5, cashier_a_id),
        ("transferred", "transferred", table3, 3, cashier_b_id),
        ("transferred", "transferred", table2, 2, cashier_b_id),
        ("updated", "lines_moved", table1, 5, manager_id),
        ("updated", "lines_moved", table2, 2, manager_id),
    ]
    assert (seen[0].data["from_table"], seen[0].data["to_table"]) == (1, 5)
    assert seen[2].data["merged_from_order_id"] == table3
    table5_total = 2 * GUKBAP + 1 * SOJU
    table2_total = 1 * GUKBAP + 2 * SOJU
    assert (seen[3].data["total"], seen[4].data["total"]) == (table5_total, table2_total)
    assert [o["table_no"] for o in ok(owner.get("/orders/unpaids"))["orders"]] == [2, 5]
    order5, order2 = ok(owner.get(f"/orders/{table1}")), ok(owner.get(f"/orders/{table2}"))
    assert (order5["table_no"], order5["total"]) == (5, table5_total)
    assert (order2["table_no"], order2["total"]) == (2, table2_total)
    assert sorted((line["item_id"], line["quantity"]) for line in order2["lines"]) == sorted(
        [(gukbap, 1), (soju, 2)]
    )
    assert ok(owner.get(f"/orders/{table3}"))["status"] == "cancelled"
    audit = [
        (e["type"], e["staff_id"]) for e in ok(owner.get(f"/orders/{table1}/events"))["events"]
    ]
    assert audit[-2:] == [("transferred", cashier_a_id), ("lines_moved", manager_id)]

    # -- a pay-out, then payments by both cashiers -----------------------------------------------
    ok(
        cashier_a.post(
            "/sales/shifts/current/cash-movements",
            {"kind": "pay_out", "amount": PAY_OUT, "reason": "얼음 구매"},
        ),
        201,
    )
    cash5 = ok(
        cashier_a.post(
            "/sales/payments",
            {"table_no": 5, "amount": table5_total, "payment_type": "cash", "tendered": 30_000},
            headers={"Idempotency-Key": f"shift-t5-{table1}"},
        ),
        201,
    )
    assert (cash5["change"], cash5["order_status"], cash5["staff_id"]) == (
        30_000 - table5_total,
        "paid",
        cashier_a_id,
    )
    card_part = 10_000
    cash_part = table2_total - card_part
    card2 = ok(
        cashier_b.post(
            "/sales/payments",
            {
                "table_no": 2,
                "amount": card_part,
                "payment_type": "card",
                "card": {"approval_no": "77001234", "issuer": "현대", "installment_months": 0},
            },
            headers={"Idempotency-Key": f"shift-t2-card-{table2}"},
        ),
        201,
    )
    assert (card2["balance"], card2["order_status"]) == (cash_part, "open")
    cash2 = ok(
        cashier_b.post(
            "/sales/payments",
            {"table_no": 2, "amount": cash_part, "payment_type": "cash", "tendered": 10_000},
            headers={"Idempotency-Key": f"shift-t2-cash-{table2}"},
        ),
        201,
    )
    assert (cash2["change"], cash2["order_status"]) == (10_000 - cash_part, "paid")
    sale5, sale2 = cash5["sale_id"], cash2["sale_id"]

    # -- X report mid-shift ----------------------------------------------------------------------
    cash_sales = table5_total + cash_part
    gross = table5_total + table2_total
    sales_vat = vat_of(table5_total) + vat_of(table2_total)
    x = ok(cashier_a.get("/sales/shifts/current"))
    assert {
        k: x[k]
        for k in (
            "status",
            "opening_float",
            "cash_sales",
            "cash_refunds",
            "pay_outs",
            "expected_cash",
            "card_sales",
            "gross_sales",
            "refund_total",
            "net_sales",
            "vat",
            "order_count",
            "payment_count",
        )
    } == {
        "status": "open",
        "opening_float": OPENING_FLOAT,
        "cash_sales": cash_sales,
        "cash_refunds": 0,
        "pay_outs": PAY_OUT,
        "expected_cash": OPENING_FLOAT + cash_sales - PAY_OUT,
        "card_sales": card_part,
        "gross_sales": gross,
        "refund_total": 0,
        "net_sales": gross,
        "vat": sales_vat,
        "order_count": 2,
        "payment_count": 3,
    }
    assert (x["expected_cash"], x["vat"]) == (129_000, 3818)
    assert [row["staff_id"] for row in x["per_staff"]] == [cashier_a_id]  # its own row only

    # -- refunds: a cashier is refused, the manager refunds ----------------------------------------
    gukbap_line = next(line for line in order5["lines"] if line["item_id"] == gukbap)
    soju_line = next(line for line in order2["lines"] if line["item_id"] == soju)
    refused = cashier_a.post(
        f"/sales/{sale5}/refunds",
        {"lines": [{"line_id": gukbap_line["line_id"], "quantity": 1}], "reason": "식어서"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert cashier_b.delete(f"/sales/{sale2}").status_code == 403
    receipt5 = ok(cashier_a.get(f"/sales/receipts/{cash5['receipt_no']}"))
    assert (receipt5["refunds"], receipt5["refunded_total"]) == ([], 0)  # nothing changed
    cash_refund = ok(
        manager.post(
            f"/sales/{sale5}/refunds",
            {"lines": [{"line_id": gukbap_line["line_id"], "quantity": 1}], "reason": "식어서"},
        ),
        201,
    )
    card_refund = ok(
        manager.post(
            f"/sales/{sale2}/refunds",
            {
                "lines": [{"line_id": soju_line["line_id"], "quantity": 1}],
                "reason": "잘못 주문",
                "payment_type": "card",
            },
        ),
        201,
    )
    refund5_vat = vat_of(table5_total) - vat_of(table5_total - GUKBAP)
    refund2_vat = vat_of(table2_total) - vat_of(table2_total - SOJU)
    assert (cash_refund["amount"], cash_refund["vat"], cash_refund["staff_id"]) == (
        GUKBAP,
        refund5_vat,
        manager_id,
    )
    assert cash_refund["tenders"] == [{"payment_type": "cash", "amount": GUKBAP}]
    assert (card_refund["amount"], card_refund["vat"], card_refund["staff_id"]) == (
        SOJU,
        refund2_vat,
        manager_id,
    )
    assert card_refund["tenders"] == [{"payment_type": "card", "amount": SOJU}]

    # -- close with counted cash: 500 won short -------------------------------------------------
    refunds = GUKBAP + SOJU
    expected_cash = OPENING_FLOAT + cash_sales - GUKBAP - PAY_OUT
    counted = expected_cash - 500
    net = gross - refunds
    day_vat = sales_vat - refund5_vat - refund2_vat
    assert (expected_cash, net, day_vat) == (120_000, 28_000, 2546)
    z = ok(cashier_a.post("/sales/shifts/current/close", {"counted_cash": counted}))
    z_expected = {
        "status": "closed",
        "opening_float": OPENING_FLOAT,
        "cash_sales": cash_sales,
        "cash_refunds": GUKBAP,
        "pay_ins": 0,
        "pay_outs": PAY_OUT,
        "expected_cash": expected_cash,
        "counted_cash": counted,
        "difference": -500,
        "card_sales": card_part,
        "card_refunds": SOJU,
        "card_total": card_part - SOJU,
        "cash_total": cash_sales - GUKBAP,
        "other_total": 0,
        "gross_sales": gross,
        "discount_total": 0,
        "refund_total": refunds,
        "net_sales": net,
        "taxable_total": net,
        "vat": day_vat,
        "supply_value": net - day_vat,
        "exempt_total": 0,
        "order_count": 2,
        "average_check": net // 2,
        "payment_count": 3,
        "closed_by": cashier_a_id,
    }
    assert {k: z[k] for k in z_expected} == z_expected
    assert [row["staff_id"] for row in z["per_staff"]] == [cashier_a_id]
    closed = cashier_a.get("/sales/shifts/current")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "no_open_shift"
    read_back = ok(manager.get(f"/sales/shifts/{shift_id}"))
    assert {k: read_back[k] for k in z_expected} == z_expected
    per_staff = {row["staff_id"]: row for row in read_back["per_staff"]}
    assert set(per_staff) == {cashier_a_id, cashier_b_id, manager_id}
    assert (per_staff[cashier_a_id]["payment_count"], per_staff[cashier_a_id]["taken"]) == (
        1,
        {"card": 0, "cash": table5_total, "other": 0},
    )
    assert (per_staff[cashier_b_id]["payment_count"], per_staff[cashier_b_id]["taken"]) == (
        2,
        {"card": card_part, "cash": cash_part, "other": 0},
    )
    assert (per_staff[cashier_a_id]["gross_sales"], per_staff[cashier_b_id]["gross_sales"]) == (
        table5_total,
        table2_total,
    )
    assert (per_staff[manager_id]["refund_total"], per_staff[manager_id]["payment_count"]) == (
        refunds,
        0,
    )
    assert cashier_b.get(f"/sales/shifts/{shift_id}").status_code == 403  # not its shift

    # -- the day's summary and the settlement text ---------------------------------------------
    summary = ok(owner.get(f"/dashboard/summary?start={today}&end={today}"))
    assert {
        k: summary[k]
        for k in ("gross_sales", "refund_total", "net_sales", "vat", "by_payment_type")
    } == {
        "gross_sales": gross,
        "refund_total": refunds,
        "net_sales": net,
        "vat": day_vat,
        "by_payment_type": {"card": card_part - SOJU, "cash": cash_sales - GUKBAP, "other": 0},
    }
    assert manager.get(f"/dashboard/summary?start={today}&end={today}").status_code == 200
    assert cashier_a.get(f"/dashboard/summary?start={today}&end={today}").status_code == 403
    ok(owner.get(f"/dashboard/calculate?date={today}"))
    texts = [text for phone, text in sms_from_backend(moto_sns) if phone == "+82" + PHONE[1:]]
    assert texts == [
        f"[Salesync] {STORE_NAME} {today} 매출 합계 28,000원 (결제 2건)\n"
        "순매출 28,000원 / 부가세 2,546원\n"
        "카드 5,000원 / 현금 23,000원\n"
        "시재 차액 -500원"
    ]
