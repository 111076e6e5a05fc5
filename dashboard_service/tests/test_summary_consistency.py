"""``/dashboard/summary`` (and ``/bff/summary``) on seeded random days of orders, real services.

Three business days of orders with options, exempt items, line and order discounts, split
payments by card/cash/other taken by the owner and two staff, partial and full refunds, all made
through the item, order and sale services over HTTP. The summary must agree with
``/dashboard/sales`` (net sales = sales volume) and, to the won, with figures recomputed here
from what the test itself ordered, paid and refunded (``pricing`` over the test's own records).
"""

# ruff: noqa: F811 - `stack` is the real services fixture imported from test_with_services
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from devstack.testing import auth_headers, new_store_id, staff_token_for, token_for
from salesync_common import pricing

from .test_with_services import stack  # noqa: F401 - the module's real services

SEED = 20261213
DAYS = [date(2026, 5, 11), date(2026, 5, 12), date(2026, 5, 13)]
KST_HOURS = [10, 12, 13, 19, 23]  # local hours of payment (23:xx KST is still the same day)
STAFF = (None, 7, 8)


@dataclass
class Sale:
    day: date
    hour: int
    priced: pricing.PricedOrder
    settled_by: int | None
    categories: list[tuple[int, int, int, int]]  # (category id, quantity, gross, net) per line
    paid: dict[str, int] = field(default_factory=dict)  # tender -> amount
    refunds: list[pricing.Refund] = field(default_factory=list)
    given_back: dict[str, int] = field(default_factory=dict)


def headers(store: int, staff_id: int | None) -> dict[str, str]:
    if staff_id is None:
        return auth_headers(token_for(store))
    return auth_headers(staff_token_for(store, "manager", staff_id=staff_id))


def call(method: str, url: str, head: dict[str, str], **kwargs: Any) -> Any:
    response = requests.request(method, url, headers=head, timeout=15, **kwargs)
    assert response.status_code < 300, (url, response.status_code, response.text)
    return response.json()


def menu(stack: Any, store: int) -> dict[str, Any]:
    owner = headers(store, None)
    items: dict[str, Any] = {}
    for category_name, entries in (
        ("커피", (("라떼", 4500, "vat"), ("아메리카노", 3900, "vat"))),
        ("베이커리", (("쿠키", 2500, "vat"),)),
        ("식품", (("쌀", 10_000, "exempt"), ("달걀", 3333, "exempt"))),
    ):
        category = call(
            "POST", f"{stack.item.url}/categories/", owner, json={"name": category_name}
        )
        for name, price, tax in entries:
            item_id = call(
                "POST",
                f"{stack.item.url}/categories/{category['id']}/items",
                owner,
                json={"name": name, "price": price},
            )["id"]
            if tax == "exempt":
                call(
                    "PUT",
                    f"{stack.item.url}/categories/items/{item_id}",
                    owner,
                    json={"name": name, "price": price, "tax": tax},
                )
            items[name] = {"id": item_id, "price": price, "tax": tax, "category": category["id"]}
    size = call(
        "POST",
        f"{stack.item.url}/categories/items/{items['라떼']['id']}/option-groups",
        owner,
        json={
            "name": "사이즈",
            "min_select": 1,
            "max_select": 1,
            "options": [{"name": "레귤러", "price_delta": 0}, {"name": "라지", "price_delta": 700}],
        },
    )
    extra = call(
        "POST",
        f"{stack.item.url}/categories/items/{items['라떼']['id']}/option-groups",
        owner,
        json={
            "name": "추가",
            "min_select": 0,
            "max_select": 2,
            "options": [{"name": "샷", "price_delta": 500}, {"name": "시럽", "price_delta": 333}],
        },
    )
    items["라떼"]["sizes"] = [(o["option_id"], o["price_delta"]) for o in size["options"]]
    items["라떼"]["extras"] = [(o["option_id"], o["price_delta"]) for o in extra["options"]]
    return items


def random_cart(rng: random.Random, items: dict[str, Any]) -> list[dict[str, Any]]:
    """Distinct (item, options) lines, so the order keeps them as given."""
    cart: list[dict[str, Any]] = []
    for name in rng.sample(sorted(items), rng.randint(1, 4)):
        item = items[name]
        line: dict[str, Any] = {"item_id": item["id"], "quantity": rng.randint(1, 3)}
        deltas: list[int] = []
        if name == "라떼":
            size = rng.choice(item["sizes"])
            chosen = [size, *rng.sample(item["extras"], rng.randint(0, 2))]
            line["options"] = sorted(option_id for option_id, _ in chosen)
            deltas = [delta for _, delta in chosen]
        line["_unit_price"] = item["price"] + sum(deltas)
        line["_tax"] = item["tax"]
        line["_category"] = item["category"]
        cart.append(line)
    return cart


def make_sale(
    stack: Any,
    store: int,
    rng: random.Random,
    items: dict[str, Any],
    table: int,
    day: date,
    hour: int,
    monkeypatch: Any,
) -> Sale:
    import order_service.app.payments as order_payments

    cart = random_cart(rng, items)
    opener = rng.choice(STAFF)
    order = call(
        "POST",
        f"{stack.order.url}/orders/",
        headers(store, opener),
        json={
            "table_no": table,
            "carts": [{k: v for k, v in line.items() if not k.startswith("_")} for line in cart],
        },
    )
    order_id = order["order_id"]
    line_discounts: dict[int, list[pricing.Discount]] = {}
    order_discounts: list[pricing.Discount] = []
    for index, line in enumerate(cart):
        if "options" not in line and rng.random() < 0.3:  # one line of that item: by item_id
            kind, value = rng.choice((("percent", 15), ("amount", 300)))
            call(
                "POST",
                f"{stack.order.url}/orders/{order_id}/discounts",
                headers(store, None),
                json={
                    "scope": "line",
                    "item_id": line["item_id"],
                    "kind": kind,
                    "value": value,
                    "reason": "쿠폰",
                },
            )
            line_discounts.setdefault(index, []).append(pricing.Discount(kind, value, "쿠폰"))
    if rng.random() < 0.4:
        kind, value = rng.choice((("percent", 10), ("amount", 1001)))
        subtotal = sum(line["_unit_price"] * line["quantity"] for line in cart)
        if kind == "percent" or value < subtotal // 2:
            call(
                "POST",
                f"{stack.order.url}/orders/{order_id}/discounts",
                headers(store, None),
                json={"scope": "order", "kind": kind, "value": value, "reason": "단골"},
            )
            order_discounts.append(pricing.Discount(kind, value, "단골"))
    priced = pricing.price_order(
        [
            pricing.Line(
                unit_price=line["_unit_price"],
                quantity=line["quantity"],
                tax=line["_tax"],
                discounts=tuple(line_discounts.get(i, ())),
            )
            for i, line in enumerate(cart)
        ],
        order_discounts,
    )
    categories = [
        (line["_category"], line["quantity"], p.amount, p.net)
        for line, p in zip(cart, priced.lines, strict=True)
    ]
    moment = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=hour - 9, minutes=rng.randint(0, 59)
    )
    monkeypatch.setattr(order_payments, "utcnow", lambda: moment)
    balance = priced.total
    parts = rng.choice((1, 1, 2, 3)) if balance >= 3 else 1
    paid: dict[str, int] = {}
    answer: dict[str, Any] = {}
    payer = None
    for part in range(parts):
        amount = balance if part == parts - 1 else rng.randint(1, balance - (parts - part - 1))
        tender = rng.choice(("card", "cash", "other"))
        payer = rng.choice(STAFF)
        body: dict[str, Any] = {"order_id": order_id, "amount": amount, "payment_type": tender}
        if tender == "card":
            body["card"] = {"approval_no": f"{rng.randint(10**7, 10**8 - 1)}", "issuer": "신한"}
        if tender == "cash":
            body["tendered"] = amount + rng.choice((0, 0, 1000))
        answer = call(
            "POST",
            f"{stack.sale.url}/sales/payments",
            headers(store, payer) | {"Idempotency-Key": str(uuid.uuid4())},
            json=body,
        )
        paid[tender] = paid.get(tender, 0) + amount
        balance -= amount
    monkeypatch.undo()
    assert balance == 0 and answer["order_status"] == "paid", answer
    sale = Sale(
        day=day, hour=hour, priced=priced, settled_by=payer, categories=categories, paid=paid
    )
    roll = rng.random()
    if roll < 0.35 and priced.total > 0:  # partial refunds, each from one tender
        tender = max(paid, key=lambda kind: paid[kind])
        refund(stack, store, answer["sale_id"], sale, rng.randint(1, paid[tender]), tender)
    elif roll < 0.5 and priced.total > 0:  # a full refund, tender by tender
        for tender, amount in sorted(paid.items()):
            if amount:
                refund(stack, store, answer["sale_id"], sale, amount, tender)
    return sale


def refund(stack: Any, store: int, sale_id: int, sale: Sale, amount: int, tender: str) -> None:
    call(
        "POST",
        f"{stack.sale.url}/sales/{sale_id}/refunds",
        headers(store, None),
        json={"amount": amount, "reason": "고객 요청", "payment_type": tender},
    )
    sale.refunds.append(pricing.refund_amount(sale.priced, sale.refunds, amount))
    sale.given_back[tender] = sale.given_back.get(tender, 0) + amount


def expected(sales: list[Sale], start: date, end: date) -> dict[str, Any]:
    chosen = [sale for sale in sales if start <= sale.day <= end]
    figures = pricing.total_figures(
        [pricing.Figures.of_sale(s.priced) for s in chosen]
        + [pricing.Figures.of_refund(r) for s in chosen for r in s.refunds]
    )
    by_type = {"card": 0, "cash": 0, "other": 0}
    by_hour = [{"hour": h, "order_count": 0, "total": 0} for h in range(24)]
    staff: dict[int | None, dict[str, Any]] = {}
    categories: dict[int, list[int]] = {}
    for sale in chosen:
        for kind, amount in sale.paid.items():
            by_type[kind] += amount - sale.given_back.get(kind, 0)
        by_hour[sale.hour]["order_count"] += 1
        by_hour[sale.hour]["total"] += sale.priced.total
        row = staff.setdefault(
            sale.settled_by, {"staff_id": sale.settled_by, "order_count": 0, "total": 0}
        )
        row["order_count"] += 1
        row["total"] += sale.priced.total
        for category, quantity, gross, net in sale.categories:
            sums = categories.setdefault(category, [0, 0, 0])
            sums[0], sums[1], sums[2] = sums[0] + quantity, sums[1] + gross, sums[2] + net
    return {
        "gross_sales": figures.gross_sales,
        "discount_total": figures.discount_total,
        "refund_total": figures.refund_total,
        "net_sales": figures.net_sales,
        "vat": figures.vat,
        "supply_value": figures.supply_value,
        "exempt_total": figures.exempt_total,
        "by_payment_type": by_type,
        "by_hour": by_hour,
        "by_staff": sorted(staff.values(), key=lambda row: row["staff_id"] or 0),
        "by_category": {key: tuple(value) for key, value in categories.items()},
        "order_count": figures.order_count,
        "average_check": figures.average_check,
    }


@pytest.mark.parametrize("seed", [SEED, SEED + 1])
def test_summary_agrees_with_sales_and_a_recomputation(stack, monkeypatch, seed):
    rng = random.Random(seed)
    store = new_store_id()
    items = menu(stack, store)
    sales: list[Sale] = []
    table = 0
    for day in DAYS:
        for _ in range(rng.randint(4, 7)):
            table += 1
            sales.append(
                make_sale(stack, store, rng, items, table, day, rng.choice(KST_HOURS), monkeypatch)
            )
    assert any(s.refunds for s in sales) and any(len(s.paid) > 1 for s in sales)
    owner = headers(store, None)
    for start, end in (
        (DAYS[0], DAYS[-1]),
        (DAYS[1], DAYS[1]),
        (DAYS[0], DAYS[1]),
        (DAYS[-1], DAYS[-1] + timedelta(days=5)),
        (date(2026, 1, 1), DAYS[0] - timedelta(days=1)),
    ):
        query = f"start={start}&end={end}"
        summary = stack.client.get(f"/dashboard/summary?{query}", headers=owner)
        assert summary.status_code == 200, summary.json
        body = summary.json
        report = stack.client.get(f"/dashboard/sales?{query}", headers=owner).json
        assert body["net_sales"] == report["sales_volume"], query
        want = expected(sales, start, end)
        got = {key: body[key] for key in want if key != "by_category"}
        assert got == {key: value for key, value in want.items() if key != "by_category"}, query
        assert {
            row["category_id"]: (row["quantity"], row["gross"], row["net"])
            for row in body["by_category"]
        } == want["by_category"], query
        assert (
            body["net_sales"] == body["gross_sales"] - body["discount_total"] - body["refund_total"]
        )
        assert sum(body["by_payment_type"].values()) == body["net_sales"]
        assert body["vat"] + body["supply_value"] + body["exempt_total"] == body["net_sales"]


def test_summary_refuses_bad_dates(stack):
    owner = headers(new_store_id(), None)
    for query in (
        "start=2026-05-12&end=2026-05-11",
        "start=x&end=2026-05-11",
        "end=2026-05-11",
        "start=2025-01-01&end=2026-05-11",
    ):
        answer = stack.client.get(f"/dashboard/summary?{query}", headers=owner)
        assert answer.status_code == 400, (query, answer.json)
        assert answer.json["result"] == "failed"


def test_settlement_figures_read_the_real_closed_shift(stack):
    """The day's settlement figures against the real sale service's shifts endpoint."""
    from dashboard_service.app.clients import siblings
    from dashboard_service.app.services import day_figures, settlement_text
    from salesync_common.timeutil import business_date, utcnow

    store = new_store_id()
    owner = headers(store, None)
    items = menu(stack, store)
    shift = call("POST", f"{stack.sale.url}/sales/shifts", owner, json={"opening_float": 10_000})
    order = call(
        "POST",
        f"{stack.order.url}/orders/",
        owner,
        json={"table_no": 1, "carts": [{"item_id": items["쿠키"]["id"], "quantity": 2}]},
    )
    call(
        "POST",
        f"{stack.sale.url}/sales/payments",
        owner | {"Idempotency-Key": str(uuid.uuid4())},
        json={"order_id": order["order_id"], "amount": 5000, "payment_type": "cash"},
    )
    closed = call(
        "POST", f"{stack.sale.url}/sales/shifts/current/close", owner, json={"counted_cash": 14_000}
    )
    assert closed["difference"] == -1000
    today = business_date(utcnow())
    with stack.client.application.app_context():
        figures = day_figures(siblings(), store, today, "Asia/Seoul")
    assert (figures.sales_volume, figures.cash, figures.card, figures.vat) == (5000, 5000, 0, 455)
    assert figures.cash_differences == ((shift["shift_id"], -1000),)
    assert settlement_text("가게", today, figures).endswith("\n시재 차액 -1,000원")
