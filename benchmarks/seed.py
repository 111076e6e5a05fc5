"""Fast benchmark data: real stores and menus through the BFF, history bulk-inserted with SQL.

Stores, categories and items are created through the public API (real ids, real tokens). The
history is then written straight into the owners' schemas with set-based SQL (``generate_series``),
each schema through its own service role (``devstack.postgres.service_url``), consistent with the
models:

- ``item.item_costs`` / ``items.cost``: a cost history per item (some items get their first cost
  only mid-year, so older lines are uncosted and the report applies the later cost; one item never
  gets a cost);
- ``"order".orders`` paid, with ``paid_at`` / ``paid_business_date`` in the store's zone, and
  ``order_lines`` with name/price snapshots and the unit cost in effect when paid;
- ``sale.sales`` completed, one per order, ``business_date`` = the order's paid day, every 47th
  refunded.

Every row of an order is a pure function of its index ``g`` (day, time, lines, quantities), so the
order and sale schemas are written by separate connections yet agree on totals. A 1M-line store
takes well under a minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg2
import requests

from devstack import postgres
from order_service.app import daily_sales

TZ = "Asia/Seoul"
ITEMS_PER_STORE = 10  # ≥ 5: an order's up to 5 lines are distinct items


@dataclass
class SeededStore:
    label: str
    store_id: int
    token: str
    item_ids: list[int]
    names: list[str]
    prices: list[int]
    stats: dict[str, Any] = field(default_factory=dict)


def today_local() -> date:
    return datetime.now(ZoneInfo(TZ)).date()


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _store_id_from_token(token: str) -> int:
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return int(json.loads(base64.urlsafe_b64decode(payload))["sub"])


def create_store(base: str, label: str, n_items: int = ITEMS_PER_STORE) -> SeededStore:
    """Signup, one category per 5 items and the items, all through the BFF."""
    session = _session()
    response = session.post(
        f"{base}/stores/",
        json={
            "username": f"{label}-{uuid.uuid4().hex[:6]}",
            "password": "bench-password",
            "owner_name": "벤치",
            "phone": "01000000000",
            "store_name": f"벤치 {label}",
            "address": "서울",
            "store_type": "일반음식점",
        },
        timeout=30,
    )
    response.raise_for_status()
    token = response.json()["token"]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    item_ids, names, prices = [], [], []
    category = 0
    for i in range(n_items):
        if i % 5 == 0:
            category = session.post(
                f"{base}/categories/", json={"name": f"분류{i // 5}"}, headers=headers, timeout=30
            ).json()["id"]
        name, price = f"메뉴{i + 1}", 1000 * (i + 1)
        created = session.post(
            f"{base}/categories/{category}/items",
            json={"name": name, "price": price},
            headers=headers,
            timeout=30,
        )
        created.raise_for_status()
        item_ids.append(int(created.json()["id"]))
        names.append(name)
        prices.append(price)
    return SeededStore(label, _store_id_from_token(token), token, item_ids, names, prices)


def _connect(schema: str, dbname: str) -> Any:
    conn = psycopg2.connect(postgres.service_url(schema, dbname))
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")  # bulk load: durability of each commit moot
    return conn


def _cost_schedule(store: SeededStore, start: date, days: int) -> list[list[tuple[date, int]]]:
    """Per item: (effective day, cost) entries. Index 3k: first cost mid-period; last: none."""
    schedule: list[list[tuple[date, int]]] = []
    for i, price in enumerate(store.prices):
        if i == len(store.prices) - 1:
            schedule.append([])
        elif i % 3 == 0:
            schedule.append([(start + timedelta(days=days // 2), price * 40 // 100)])
        else:
            schedule.append(
                [
                    (start - timedelta(days=1), price * (30 + i % 4) // 100),
                    (start + timedelta(days=days // 3), price * (35 + i % 4) // 100),
                    (start + timedelta(days=2 * days // 3), price * (40 + i % 4) // 100),
                ]
            )
    return schedule


def _cost_grid(schedule: list[list[tuple[date, int]]], start: date, days: int) -> list[int | None]:
    """Flattened [item][day] → cost in effect that business day (costs change at 00:00 local)."""
    grid: list[int | None] = []
    for entries in schedule:
        current: int | None = None
        pending = sorted(entries)
        for d in range(days):
            day = start + timedelta(days=d)
            while pending and pending[0][0] <= day:
                current = pending.pop(0)[1]
            grid.append(current)
    return grid


def write_costs(dbname: str, store: SeededStore, start: date, days: int) -> list[int | None]:
    """The item schema's cost history; returns the [item][day] grid the order lines snapshot."""
    schedule = _cost_schedule(store, start, days)
    tz = ZoneInfo(TZ)
    conn = _connect("item", dbname)
    try:
        with conn, conn.cursor() as cur:
            rows = [
                (item_id, cost, datetime.combine(day, datetime.min.time(), tz))
                for item_id, entries in zip(store.item_ids, schedule, strict=True)
                for day, cost in entries
            ]
            cur.executemany(
                "INSERT INTO item.item_costs (item_id, cost, effective_from) VALUES (%s, %s, %s)",
                rows,
            )
            for item_id, entries in zip(store.item_ids, schedule, strict=True):
                if entries:
                    cur.execute(
                        "UPDATE item.items SET cost = %s WHERE id = %s",
                        (max(entries)[1], item_id),
                    )
    finally:
        conn.close()
    return _cost_grid(schedule, start, days)


# The order index g → its day, paid time and line count. Shared by the order and sale inserts.
ORDERS_CTE = """
WITH o AS (
    SELECT g,
           (%(start)s::date + (g::bigint * %(days)s / %(n)s)::int) AS day,
           (g::bigint * %(days)s / %(n)s)::int AS d,
           1 + (g * 31) %% 5 AS k
    FROM generate_series(0::bigint, %(n)s - 1) AS g
), op AS (
    SELECT o.*,
           ((o.day::timestamp + %(first_hour)s * interval '1 hour'
             + ((g * 7919) %% %(window)s) * interval '1 second') AT TIME ZONE %(tz)s) AS paid_at,
           (SELECT sum((%(prices)s::int[])[1 + (o.g + j) %% %(ni)s] * (1 + (o.g + j) %% 3))
            FROM generate_series(0, o.k - 1) AS j) AS total
    FROM o
)
"""


def _params(
    store: SeededStore, n: int, start: date, days: int, window: int, first_hour: int
) -> dict[str, Any]:
    return {
        "first_hour": first_hour,
        "n": n,
        "start": start,
        "days": days,
        "window": window,
        "tz": TZ,
        "prices": store.prices,
        "ni": len(store.item_ids),
        "store": store.store_id,
    }


def _next_id(cur: Any, table: str) -> int:
    cur.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")  # noqa: S608 - fixed names
    return int(cur.fetchone()[0])


def _bump_sequence(cur: Any, table: str) -> None:
    cur.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
    )


def write_orders(
    dbname: str,
    store: SeededStore,
    *,
    orders: int,
    start: date,
    days: int,
    grid: list[int | None],
    sale_base: int,
    window: int = 36000,
    first_hour: int = 11,
) -> tuple[int, int]:
    """Paid orders and their lines; returns (first order id, lines written)."""
    params = _params(store, orders, start, days, window, first_hour)
    params.update(
        {"ids": store.item_ids, "names": store.names, "grid": grid, "sale_base": sale_base}
    )
    conn = _connect("order", dbname)
    try:
        with conn, conn.cursor() as cur:
            base = _next_id(cur, '"order".orders')
            params["base"] = base
            cur.execute(
                ORDERS_CTE  # noqa: S608 - constant SQL text, every value is bound
                + """
                INSERT INTO "order".orders (id, store_id, table_no, status, version, business_date,
                    opened_at, updated_at, paid_at, paid_business_date, paid_sale_id, total_price)
                SELECT %(base)s + g, %(store)s, 1 + g %% 20, 'paid', 3, day,
                       paid_at - interval '40 minutes', paid_at, paid_at, day,
                       %(sale_base)s + g, total
                FROM op
                """,
                params,
            )
            cur.execute(
                ORDERS_CTE  # noqa: S608 - constant SQL text, every value is bound
                + """
                , lines AS (
                    SELECT op.g, op.d, (op.g + j) %% %(ni)s AS ii, 1 + (op.g + j) %% 3 AS qty
                    FROM op CROSS JOIN LATERAL generate_series(0, op.k - 1) AS j
                )
                INSERT INTO "order".order_lines
                    (order_id, item_id, item_name, unit_price, unit_cost, quantity)
                SELECT %(base)s + g, (%(ids)s::bigint[])[1 + ii], (%(names)s::text[])[1 + ii],
                       (%(prices)s::int[])[1 + ii], (%(grid)s::int[])[1 + ii * %(days)s + d], qty
                FROM lines
                """,
                params,
            )
            lines = cur.rowcount
            _bump_sequence(cur, '"order".orders')
    finally:
        conn.close()
    rebuild_daily_rows(dbname, store)
    return base, lines


def rebuild_daily_rows(dbname: str, store: SeededStore) -> None:
    """Orders written in bulk bypass ``pay``: rebuild the store's daily item rows from them."""
    from sqlalchemy import create_engine

    url = postgres.service_url("order", dbname).replace("postgresql://", "postgresql+psycopg2://")
    engine = create_engine(url, connect_args={"options": '-c search_path="order"'})
    try:
        with engine.begin() as connection:
            daily_sales.rebuild(connection, store.store_id)
    finally:
        engine.dispose()


def write_sales(
    dbname: str,
    store: SeededStore,
    *,
    orders: int,
    start: date,
    days: int,
    order_base: int,
    sale_base: int,
    window: int = 36000,
    first_hour: int = 11,
) -> int:
    """One completed sale per order (card/cash), every 47th refunded 15 minutes later."""
    params = _params(store, orders, start, days, window, first_hour)
    params.update({"order_base": order_base, "sale_base": sale_base})
    conn = _connect("sale", dbname)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                ORDERS_CTE  # noqa: S608 - constant SQL text, every value is bound
                + """
                INSERT INTO sale.sales (id, store_id, order_id, table_no, total_price, payment_type,
                    payment_label, status, business_date, created_at, pay_attempted_at, paid_at,
                    completed_at, refunded_at)
                SELECT %(sale_base)s + g, %(store)s, %(order_base)s + g, 1 + g %% 20, total,
                       CASE WHEN g %% 3 = 0 THEN 'cash' ELSE 'card' END,
                       CASE WHEN g %% 3 = 0 THEN '현금' ELSE '카드' END,
                       'completed', day, paid_at - interval '1 second',
                       paid_at - interval '1 second', paid_at, paid_at,
                       CASE WHEN g %% 47 = 46 THEN paid_at + interval '15 minutes' END
                FROM op
                """,
                params,
            )
            written = cur.rowcount
            _bump_sequence(cur, "sale.sales")
    finally:
        conn.close()
    return written


def next_sale_id(dbname: str) -> int:
    """The first free sale id, also unused as an order's ``paid_sale_id`` (unique there too)."""
    found = []
    for schema, query in (
        ("sale", "SELECT coalesce(max(id), 0) + 1 FROM sale.sales"),
        ("order", 'SELECT coalesce(max(paid_sale_id), 0) + 1 FROM "order".orders'),
    ):
        conn = _connect(schema, dbname)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(query)
                found.append(int(cur.fetchone()[0]))
        finally:
            conn.close()
    return max(found)


def seed_history(dbname: str, store: SeededStore, lines: int, days: int, end: date) -> dict:
    """≈ ``lines`` order lines (3 per order on average) over ``days`` business days to ``end``."""
    began = time.perf_counter()
    start = end - timedelta(days=days - 1)
    orders = max(1, -(-lines // 3))
    orders += -orders % 5  # line counts cycle 1..5: a multiple of 5 orders averages exactly 3
    grid = write_costs(dbname, store, start, days)
    sale_base = next_sale_id(dbname)
    order_base, written = write_orders(
        dbname, store, orders=orders, start=start, days=days, grid=grid, sale_base=sale_base
    )
    sales = write_sales(
        dbname,
        store,
        orders=orders,
        start=start,
        days=days,
        order_base=order_base,
        sale_base=sale_base,
    )
    store.stats = {
        "orders": orders,
        "order_lines": written,
        "sales": sales,
        "refunds": orders // 47,
        "first_day": start.isoformat(),
        "last_day": end.isoformat(),
        "seconds": round(time.perf_counter() - began, 1),
    }
    return store.stats


def seed_open_tables(dbname: str, store: SeededStore, tables: int, day: date) -> None:
    """Open orders (unpaid tables) on tables 1..``tables``, lines with the current snapshot."""
    now = datetime.now(ZoneInfo(TZ))
    conn = _connect("order", dbname)
    try:
        with conn, conn.cursor() as cur:
            for table in range(1, tables + 1):
                chosen = [(table + j) % len(store.item_ids) for j in range(3)]
                total = sum(store.prices[i] * (1 + j) for j, i in enumerate(chosen))
                cur.execute(
                    'INSERT INTO "order".orders (store_id, table_no, status, version,'
                    " business_date, opened_at, updated_at, total_price)"
                    " VALUES (%s, %s, 'open', 1, %s, %s, %s, %s) RETURNING id",
                    (store.store_id, table, day, now, now, total),
                )
                order_id = cur.fetchone()[0]
                cur.executemany(
                    'INSERT INTO "order".order_lines (order_id, item_id, item_name, unit_price,'
                    " unit_cost, quantity) VALUES (%s, %s, %s, %s, NULL, %s)",
                    [
                        (order_id, store.item_ids[i], store.names[i], store.prices[i], 1 + j)
                        for j, i in enumerate(chosen)
                    ],
                )
    finally:
        conn.close()


def seed_busy_day(dbname: str, store: SeededStore, orders: int, open_tables: int) -> dict:
    """Today's paid orders (local midnight to now) plus a few open tables."""
    today = today_local()
    now = datetime.now(ZoneInfo(TZ))
    window = max(60, int((now - now.replace(hour=0, minute=0, second=0)).total_seconds()) - 60)
    began = time.perf_counter()
    grid = write_costs(dbname, store, today, 1)
    sale_base = next_sale_id(dbname)
    order_base, written = write_orders(
        dbname,
        store,
        orders=orders,
        start=today,
        days=1,
        grid=grid,
        sale_base=sale_base,
        window=window,
        first_hour=0,
    )
    write_sales(
        dbname,
        store,
        orders=orders,
        start=today,
        days=1,
        order_base=order_base,
        sale_base=sale_base,
        window=window,
        first_hour=0,
    )
    seed_open_tables(dbname, store, open_tables, today)
    store.stats = {
        "orders": orders,
        "order_lines": written,
        "open_tables": open_tables,
        "seconds": round(time.perf_counter() - began, 1),
    }
    return store.stats


def analyze(dbname: str) -> None:
    """VACUUM ANALYZE the bulk-loaded tables, as a running system's autovacuum would have."""
    for schema, tables in (
        ("order", ('"order".orders', '"order".order_lines', '"order".daily_item_sales')),
        ("sale", ("sale.sales",)),
        ("item", ("item.items", "item.item_costs")),
    ):
        conn = psycopg2.connect(postgres.service_url(schema, dbname))
        conn.autocommit = True  # VACUUM cannot run in a transaction
        try:
            with conn.cursor() as cur:
                for table in tables:
                    cur.execute(f"VACUUM ANALYZE {table}")
        finally:
            conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Seed history into a running stack.")
    parser.add_argument("--base", default="http://127.0.0.1:8000", help="the BFF")
    parser.add_argument("--dbname", default=postgres.DEFAULT_DB)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    postgres.start()
    store = create_store(args.base, "history")
    yesterday = today_local() - timedelta(days=1)
    print(json.dumps(seed_history(args.dbname, store, args.lines, args.days, yesterday)))
    analyze(args.dbname)
    print(json.dumps({"store_id": store.store_id, "token": store.token}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
