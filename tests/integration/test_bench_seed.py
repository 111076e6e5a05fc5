"""``benchmarks/seed.py`` against the current migrations: what it writes is what the services read.

A small history and a busy day are seeded into the test database (every service migrated to
head) with the benchmark's own functions; the dashboard, over the real item, order and sale
services, must answer exactly what the seed says it wrote, and the rows must be the v2 payment
protocol's (a payment in both services per order, receipt numbers per store and day).
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import psycopg2
import pytest
import requests

from benchmarks import seed
from devstack.testing import auth_headers, token_for

_stores = itertools.count(5200)


@pytest.fixture(scope="module")
def services(service_app, serve, pg):
    item = serve(service_app("item_service"))
    order = serve(service_app("order_service", item_service_url=item.url))
    sale = serve(service_app("sale_service", order_service_url=order.url))
    dashboard = service_app(
        "dashboard_service",
        item_service_url=item.url,
        order_service_url=order.url,
        sale_service_url=sale.url,
        store_service_url=item.url,
        rate_limits_enabled=False,
    )
    client = dashboard.test_client()

    def get(path: str, token: str) -> dict[str, Any]:
        response = client.get(path, headers=auth_headers(token))
        assert response.status_code == 200, (path, response.status_code, response.json)
        body: dict[str, Any] = response.json
        return body

    return SimpleNamespace(item=item, sale=sale, get=get, dbname=pg.name)


def new_store(services: SimpleNamespace, label: str) -> seed.SeededStore:
    store_id = next(_stores)
    return seed.create_menu(services.item.url, label, store_id, token_for(store_id))


def rows(services: SimpleNamespace, schema: str, sql: str, *params: Any) -> list[tuple]:
    conn = psycopg2.connect(seed.postgres.service_url(schema, services.dbname))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_seeded_history_is_what_the_dashboard_reads(services):
    store = new_store(services, "history")
    end = seed.today_local() - timedelta(days=1)
    days = 12  # the cost schedule changes on days 4, 6 and 8: costed and uncosted lines
    stats = seed.seed_history(services.dbname, store, 300, days, end)
    start = end - timedelta(days=days - 1)
    assert stats["orders"] == 100 and stats["order_lines"] == 300 and stats["refunds"] == 2

    seed.verify(services.get, store, start, end, prefix="/dashboard")
    # the figures checked are not trivially zero: refunds, uncosted items and both tenders
    expected = seed.expected_answers(store, start, end)
    assert expected["summary"]["refund_total"] > 0
    assert set(expected["summary"]["by_payment_type"]) >= {"card", "cash"}
    assert 0 < expected["sales"]["sales_volume"] < expected["summary"]["gross_sales"]

    payments = rows(
        services,
        "order",
        'SELECT count(*), count(DISTINCT o.id) FROM "order".order_payments p'
        ' JOIN "order".orders o ON o.id = p.order_id'
        " WHERE o.store_id = %s AND o.paid_total = o.total_price AND p.status = 'paid'",
        store.store_id,
    )
    assert payments == [(100, 100)]
    sales = rows(
        services,
        "sale",
        "SELECT s.order_id, s.business_date, s.receipt_no, s.paid_at, p.amount, s.total_price"
        " FROM sale.sales s JOIN sale.payments p ON p.payment_ref = s.payment_ref"
        " WHERE s.store_id = %s AND s.status = 'completed' ORDER BY s.paid_at, s.id",
        store.store_id,
    )
    assert len(sales) == 100 and all(amount == total for *_, amount, total in sales)
    numbers: dict[Any, list[int]] = {}
    for _order_id, day, receipt_no, *_ in sales:
        assert re.fullmatch(rf"{day:%Y%m%d}-\d{{4}}", receipt_no), receipt_no
        numbers.setdefault(day, []).append(int(receipt_no[-4:]))
    # numbered 1..n per day, in payment order; the day's counter stands at its last number
    assert all(found == list(range(1, len(found) + 1)) for found in numbers.values())
    counters = dict(
        rows(
            services,
            "sale",
            "SELECT business_date, last_no FROM sale.receipt_counters WHERE store_id = %s",
            store.store_id,
        )
    )
    assert counters == {day: len(found) for day, found in numbers.items()}
    # the sale of an order is the one the order service's ledger names
    refs = rows(
        services,
        "order",
        'SELECT p.order_id, p.payment_ref FROM "order".order_payments p'
        " WHERE p.store_id = %s ORDER BY p.order_id",
        store.store_id,
    )
    sale_refs = rows(
        services,
        "sale",
        "SELECT order_id, payment_ref FROM sale.sales WHERE store_id = %s ORDER BY order_id",
        store.store_id,
    )
    assert refs == sale_refs


def test_busy_day_then_a_live_payment_numbers_on(services):
    store = new_store(services, "busy")
    stats = seed.seed_busy_day(services.dbname, store, 25, 2)
    assert stats["orders"] == 25 and stats["open_tables"] == 2
    today = seed.today_local()
    seed.verify(services.get, store, today, today, prefix="/dashboard")

    # an open table pays through the sale service: its receipt follows the seeded ones
    headers = auth_headers(store.token)
    table_total = sum(store.prices[(1 + j) % len(store.prices)] * (1 + j) for j in range(3))
    paid = requests.post(
        f"{services.sale.url}/sales/",
        json={"table_no": 1, "payment_type": "카드", "total_price": table_total},
        headers=headers,
        timeout=15,
    )
    assert paid.status_code < 300 and paid.json()["result"] == "success", paid.text
    receipt = rows(
        services,
        "sale",
        "SELECT receipt_no FROM sale.sales WHERE id = %s",
        paid.json()["id"],
    )
    assert receipt == [(f"{today:%Y%m%d}-0026",)]
