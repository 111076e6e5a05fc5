"""Report math on its own: costs over time, refunds, renamed/deleted items, empty days."""

from __future__ import annotations

from datetime import date

from dashboard_service.app.report import build_report, items_needing_history, later_cost


def row(day, item_id, name, qty, price, cost=None, uncosted_qty=0, first_paid=None):
    costed_qty = qty - uncosted_qty
    return {
        "date": day,
        "item_id": item_id,
        "item_name": name,
        "quantity": qty,
        "sales_volume": qty * price,
        "cost_total": costed_qty * cost if cost is not None else 0,
        "uncosted_quantity": uncosted_qty,
        "uncosted_first_paid_at": first_paid,
    }


def totals(*days):
    return {
        "days": [
            {"date": d, "sales_volume": v, "payments": p, "refunded": r} for d, v, p, r in days
        ],
        "sales_volume": sum(v for _, v, _, _ in days),
        "payments": sum(p for _, _, p, _ in days),
    }


def test_later_cost_picks_earliest_entry_after_payment():
    history = [
        {"cost": None, "effective_from": "2026-11-01T00:00:00+00:00"},
        {"cost": 700, "effective_from": "2026-11-05T00:00:00+00:00"},
        {"cost": 900, "effective_from": "2026-11-03T00:00:00+00:00"},
    ]
    from datetime import UTC, datetime

    assert later_cost(history, datetime(2026, 11, 2, tzinfo=UTC)) == 900
    assert later_cost(history, datetime(2026, 11, 4, tzinfo=UTC)) == 700
    assert later_cost(history, datetime(2026, 11, 6, tzinfo=UTC)) is None


def test_costs_changing_over_time_and_uncosted_lines():
    rows = [
        # Day 1: 3 units with the cost snapshot 400 (in effect when paid).
        row("2026-11-01", 1, "아메리카노", 3, 2000, cost=400),
        # Day 2: cost changed to 600 by then: the snapshot carries it.
        row("2026-11-02", 1, "아메리카노", 2, 2000, cost=600),
        # Latte: 4 units paid without any cost; a cost of 1000 was entered later, then 1500.
        row(
            "2026-11-02", 2, "라떼", 4, 3000, uncosted_qty=4, first_paid="2026-11-02T03:00:00+00:00"
        ),
        # Cake: never got a cost -> counts 0, reported as uncosted.
        row(
            "2026-11-02",
            3,
            "케이크",
            1,
            5000,
            uncosted_qty=1,
            first_paid="2026-11-02T04:00:00+00:00",
        ),
    ]
    histories = {
        2: [
            {"cost": 1000, "effective_from": "2026-11-02T05:00:00+00:00"},
            {"cost": 1500, "effective_from": "2026-11-03T05:00:00+00:00"},
        ],
        3: [],
    }
    assert items_needing_history(rows) == [2, 3]
    report = build_report(
        date(2026, 11, 1),
        date(2026, 11, 3),
        rows,
        histories,
        totals(("2026-11-01", 6000, 1, 0), ("2026-11-02", 21000, 2, 0)),
    )
    assert report.items_json() == [
        {"item_id": 2, "name": "라떼", "sales_volume": 12000, "profit": 8000, "quantity": 4},
        {"item_id": 1, "name": "아메리카노", "sales_volume": 10000, "profit": 7600, "quantity": 5},
        {"item_id": 3, "name": "케이크", "sales_volume": 5000, "profit": 5000, "quantity": 1},
    ]
    assert report.uncosted_items == [3]
    assert report.sales_volume == 27000
    assert report.days == [
        {"date": "2026-11-01", "sales_volume": 6000, "profit": 4800},
        {"date": "2026-11-02", "sales_volume": 21000, "profit": 2800 + 8000 + 5000},
        {"date": "2026-11-03", "sales_volume": 0, "profit": 0},
    ]


def test_refunds_renamed_items_and_empty_range():
    rows = [
        row("2026-11-01", 7, "옛 이름", 1, 1000, cost=100),
        row("2026-11-03", 7, "새 이름", 2, 1000, cost=100),
        row("2026-11-03", 8, "삭제된 메뉴", 1, 1000, cost=500),  # deleted after sale: still counted
    ]
    # Day 3 had 3000 of sales and a 1000 refund: the sale service nets it on that day.
    report = build_report(
        date(2026, 11, 1),
        date(2026, 11, 3),
        rows,
        {},
        totals(("2026-11-01", 1000, 1, 0), ("2026-11-03", 2000, 1, 1)),
    )
    assert report.sales_volume == 3000  # items sum to 4000; the refund is netted at the top
    assert sum(i["sales_volume"] for i in report.items_json()) == 4000
    assert report.items_json()[0] == {
        "item_id": 7,
        "name": "새 이름",
        "sales_volume": 3000,
        "profit": 2700,
        "quantity": 3,
    }
    assert [d["date"] for d in report.days] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert report.days[1] == {"date": "2026-11-02", "sales_volume": 0, "profit": 0}

    empty = build_report(date(2026, 1, 1), date(2026, 1, 2), [], {}, totals())
    assert empty.items_json() == [] and empty.sales_volume == 0
    assert empty.days == [
        {"date": "2026-01-01", "sales_volume": 0, "profit": 0},
        {"date": "2026-01-02", "sales_volume": 0, "profit": 0},
    ]


def test_ties_are_ordered_by_item_id():
    rows = [row("2026-11-01", 5, "b", 1, 1000), row("2026-11-01", 2, "a", 1, 1000)]
    report = build_report(date(2026, 11, 1), date(2026, 11, 1), rows, {}, totals())
    assert [i["item_id"] for i in report.items_json()] == [2, 5]
