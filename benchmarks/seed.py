"""Fast benchmark data: real stores and menus through the public API, history bulk-loaded (COPY).

Stores, categories and items are created through the public API (real ids, real tokens). The
history is then written straight into the owners' schemas with ``COPY``, each schema through its
own service role (``devstack.postgres.service_url``), as the v2 payment protocol leaves it:

- ``item.item_costs`` / ``items.cost``: a cost history per item (some items get their first cost
  only mid-period, so older lines are uncosted and the report applies the later cost; one item
  never gets a cost);
- order schema: ``orders`` paid in full (``paid_total`` = ``total_price``, ``paid_at`` /
  ``paid_business_date`` / ``paid_hour`` on the store's clock), ``order_lines`` with name, price
  and category snapshots, the unit cost in effect when paid and ``discount`` 0, and one
  ``order_payments`` row per order (its ``payment_ref`` and pricing figures);
- sale schema: the same ``payments`` row (same ref, card or cash), one completed ``sales`` row
  per order with the order's pricing figures and a receipt number (``YYYYMMDD-NNNN``, numbered
  per store and business day in payment order, ``receipt_counters`` left at the day's last), and
  every 47th sale wholly refunded 15 minutes later (``refunds`` + ``refund_tenders``);
- the order service's daily rollups (``daily_item_sales``, ``daily_order_sales``,
  ``daily_category_sales``) rebuilt from the orders by the service's own ``daily_sales.rebuild``.

No ``order_events`` are written: a bulk-loaded history has no audit trail to replay, and the
store's event counter stays untouched, so live events of a seeded store number from 1.

Every order is a pure function of its index ``g`` (day, time, lines, quantities, tender), priced
once per distinct shape by ``salesync_common.pricing``. While writing, the seed adds up what the
dashboard must answer (:class:`Expected`); :func:`verify` compares the dashboard's answers with
it. A 1M-line store took about a minute on the shared 2-core machine (`make bench`, 65 s).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import lcm
from typing import Any
from zoneinfo import ZoneInfo

import psycopg2
import requests

from devstack import postgres
from order_service.app import daily_sales
from salesync_common import pricing

TZ = "Asia/Seoul"
ITEMS_PER_STORE = 10  # ≥ 5: an order's up to 5 lines are distinct items
ITEMS_PER_CATEGORY = 5
REFUND_EVERY = 47  # the 47th, 94th, ... order of a seed is refunded in full
REFUND_AFTER = timedelta(minutes=15)
OPENED_BEFORE_PAID = timedelta(minutes=40)
TABLES = 20
VOID_REASON = "전체 취소"  # sale_service.app.refunds.VOID_REASON: a whole-sale refund
# namespace of the seeded payment refs: uuid5(this, "<store_id>:<order_id>")
SEED_REF_NAMESPACE = uuid.UUID("5b2e9c3a-1f47-4d8e-b6a0-7c9d2e1f3a55")


@dataclass
class Expected:
    """What the dashboard must answer about a store's seeded orders (summed while writing)."""

    # day -> [net sales volume, profit, gross, refunded, orders, VAT of the sales, refunded VAT]
    days: dict[date, list[int]] = field(default_factory=dict)
    # item id -> [quantity, sales volume, profit]
    items: dict[int, list[int]] = field(default_factory=dict)
    # tender -> paid less refunded
    tenders: dict[str, int] = field(default_factory=dict)
    # category id -> [quantity, gross, net]
    categories: dict[int, list[int]] = field(default_factory=dict)
    # local hour of payment -> [orders, net of discounts]
    hours: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class SeededStore:
    label: str
    store_id: int
    token: str
    item_ids: list[int]
    names: list[str]
    prices: list[int]
    category_ids: list[int]  # per item
    category_names: list[str]  # per item
    stats: dict[str, Any] = field(default_factory=dict)
    expected: Expected = field(default_factory=Expected)


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


def create_menu(
    base: str, label: str, store_id: int, token: str, n_items: int = ITEMS_PER_STORE
) -> SeededStore:
    """One category per 5 items and the items (price 1000 x n), through ``base``'s public API."""
    session = _session()
    headers = {"Authorization": f"Bearer {token}"}
    store = SeededStore(label, store_id, token, [], [], [], [], [])
    category, category_name = 0, ""
    for i in range(n_items):
        if i % ITEMS_PER_CATEGORY == 0:
            category_name = f"분류{i // ITEMS_PER_CATEGORY}"
            created = session.post(
                f"{base}/categories/", json={"name": category_name}, headers=headers, timeout=30
            )
            created.raise_for_status()
            category = int(created.json()["id"])
        name, price = f"메뉴{i + 1}", 1000 * (i + 1)
        created = session.post(
            f"{base}/categories/{category}/items",
            json={"name": name, "price": price},
            headers=headers,
            timeout=30,
        )
        created.raise_for_status()
        store.item_ids.append(int(created.json()["id"]))
        store.names.append(name)
        store.prices.append(price)
        store.category_ids.append(category)
        store.category_names.append(category_name)
    return store


def create_store(base: str, label: str, n_items: int = ITEMS_PER_STORE) -> SeededStore:
    """Signup, then the menu (:func:`create_menu`), all through the public API."""
    response = _session().post(
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
    return create_menu(base, label, _store_id_from_token(token), token, n_items)


def _connect(schema: str, dbname: str) -> Any:
    conn = psycopg2.connect(postgres.service_url(schema, dbname))
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")  # bulk load: durability of each commit moot
    return conn


# --------------------------------------------------------------------------------------- costs

CostSchedule = list[list[tuple[date, int]]]


def _cost_schedule(store: SeededStore, start: date, days: int) -> CostSchedule:
    """Per item: (effective day, cost) entries. Index 3k: first cost mid-period; last: none."""
    schedule: CostSchedule = []
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


def _costs_by_day(schedule: CostSchedule) -> Callable[[int, date], int | None]:
    """``_cost_on`` of item ``i`` on a day, computed once per (item, day)."""
    known: dict[tuple[int, date], int | None] = {}

    def cost(i: int, day: date) -> int | None:
        key = (i, day)
        if key not in known:
            known[key] = _cost_on(schedule[i], day)
        return known[key]

    return cost


def _cost_on(entries: list[tuple[date, int]], day: date) -> int | None:
    """The cost in effect on ``day`` (costs change at 00:00 local), None before the first."""
    current = None
    for effective, cost in sorted(entries):
        if effective <= day:
            current = cost
    return current


def _later_cost(entries: list[tuple[date, int]], day: date) -> int:
    """The report's cost of a line paid uncosted on ``day``: the next cost entered, else 0."""
    later = [(effective, cost) for effective, cost in entries if effective > day]
    return min(later)[1] if later else 0


def write_costs(dbname: str, store: SeededStore, start: date, days: int) -> CostSchedule:
    """The item schema's cost history (effective at local midnight); returns the schedule."""
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
    return schedule


# ------------------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class Shape:
    """An order's content: (item index, quantity) per line, and its ``pricing`` figures."""

    lines: tuple[tuple[int, int], ...]
    priced: pricing.PricedOrder
    refund: pricing.Refund  # what refunding the whole sale gives back

    @property
    def figures(self) -> dict[str, int]:
        """The order's figures as ``order_payments.pricing`` and ``sales`` keep them."""
        return self.priced.totals()


def order_shape(store: SeededStore, g: int) -> Shape:
    """Order ``g``: 1 + g mod 5 lines of distinct items, quantities 1-3, no discount."""
    count = len(store.prices)
    lines = tuple(((g + j) % count, 1 + (g + j) % 3) for j in range(1 + g % 5))
    priced = pricing.price_order(
        [pricing.Line(unit_price=store.prices[i], quantity=quantity) for i, quantity in lines]
    )
    return Shape(lines, priced, pricing.refund_remaining(priced))


@dataclass(frozen=True)
class SeededOrder:
    g: int
    order_id: int
    sale_id: int
    paid_at: datetime  # aware, the store's zone
    shape: Shape
    receipt_no: str
    payment_ref: str  # the same in order_payments, payments and sales

    @property
    def day(self) -> date:
        return self.paid_at.date()

    @property
    def opened_at(self) -> datetime:
        return self.paid_at - OPENED_BEFORE_PAID

    @property
    def table_no(self) -> int:
        return 1 + self.g % TABLES

    @property
    def tender(self) -> tuple[str, str]:
        """(payment_type, payment_label) as ``POST /sales/`` records "현금"/"카드"."""
        return ("cash", "현금") if self.g % 3 == 0 else ("card", "카드")

    @property
    def refunded(self) -> bool:
        return self.g % REFUND_EVERY == REFUND_EVERY - 1


def plan_orders(
    store: SeededStore,
    *,
    orders: int,
    start: date,
    days: int,
    window: int,
    first_hour: int,
    order_base: int,
    sale_base: int,
) -> list[SeededOrder]:
    """The orders in payment order: ids and receipt numbers follow it, as live payments do.

    Order ``g`` is paid on day ``g * days // orders`` at ``first_hour`` + (g x 7919 mod
    ``window``) seconds, local time.
    """
    tz = ZoneInfo(TZ)
    period = lcm(len(store.prices), 3, 5)  # an order's content repeats with this period of g
    shapes = [order_shape(store, g) for g in range(min(period, orders))]
    by_day: dict[int, list[tuple[datetime, int]]] = {}
    for g in range(orders):
        d = g * days // orders
        local = datetime.combine(start + timedelta(days=d), datetime.min.time()) + timedelta(
            hours=first_hour, seconds=(g * 7919) % window
        )
        by_day.setdefault(d, []).append((local.replace(tzinfo=tz), g))
    planned: list[SeededOrder] = []
    for d in sorted(by_day):
        for number, (paid_at, g) in enumerate(sorted(by_day[d]), start=1):
            position = len(planned)
            order_id = order_base + position
            planned.append(
                SeededOrder(
                    g=g,
                    order_id=order_id,
                    sale_id=sale_base + position,
                    paid_at=paid_at,
                    shape=shapes[g % period],
                    # the format of sale_service.app.sales.format_receipt_no
                    receipt_no=f"{paid_at.date():%Y%m%d}-{number:04d}",
                    payment_ref=str(uuid.uuid5(SEED_REF_NAMESPACE, f"{store.store_id}:{order_id}")),
                )
            )
    return planned


def _text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return (
            value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "")
        )
    return str(value)


def _copy(cur: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write("\t".join(map(_text, row)))
        buffer.write("\n")
        count += 1
    buffer.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
    return count


def _reserve_ids(cur: Any, table: str, count: int) -> int:
    """Take ``count`` ids of ``table``'s sequence; returns the first (seeding runs before load)."""
    cur.execute(
        "SELECT setval(pg_get_serial_sequence(%(t)s, 'id'),"
        " nextval(pg_get_serial_sequence(%(t)s, 'id')) + %(n)s - 1) - %(n)s + 1",
        {"t": table, "n": count},
    )
    return int(cur.fetchone()[0])


def _write_order_schema(
    dbname: str, store: SeededStore, planned: list[SeededOrder], schedule: CostSchedule
) -> int:
    """Orders, lines and the order service's payment ledger; returns the lines written."""
    figures = {id(order.shape): json.dumps(order.shape.figures) for order in planned}
    cost_on = _costs_by_day(schedule)
    conn = _connect("order", dbname)
    try:
        with conn, conn.cursor() as cur:
            _copy(
                cur,
                '"order".orders',
                (
                    *("id", "store_id", "table_no", "status", "version", "business_date"),
                    *("opened_at", "updated_at", "paid_at", "paid_business_date", "paid_hour"),
                    *("total_price", "paid_total"),
                ),
                (
                    (
                        *(o.order_id, store.store_id, o.table_no, "paid", 2, o.opened_at.date()),
                        *(o.opened_at, o.paid_at, o.paid_at, o.day, o.paid_at.hour),
                        *(o.shape.priced.total, o.shape.priced.total),
                    )
                    for o in planned
                ),
            )
            lines = _copy(
                cur,
                '"order".order_lines',
                (
                    *("order_id", "item_id", "item_name", "unit_price", "unit_cost", "quantity"),
                    *("category_id", "category_name", "discount"),
                ),
                (
                    (
                        *(o.order_id, store.item_ids[i], store.names[i], store.prices[i]),
                        *(cost_on(i, o.day), quantity),
                        *(store.category_ids[i], store.category_names[i], 0),
                    )
                    for o in planned
                    for i, quantity in o.shape.lines
                ),
            )
            _copy(
                cur,
                '"order".order_payments',
                (
                    *("payment_ref", "store_id", "order_id", "amount", "payment_type"),
                    *("created_at", "total", "paid_total", "status", "pricing"),
                ),
                (
                    (
                        *(o.payment_ref, store.store_id, o.order_id),
                        *(o.shape.priced.total, o.tender[0], o.paid_at),
                        *(o.shape.priced.total, o.shape.priced.total, "paid"),
                        figures[id(o.shape)],
                    )
                    for o in planned
                ),
            )
    finally:
        conn.close()
    return lines


def _write_sale_schema(dbname: str, store: SeededStore, planned: list[SeededOrder]) -> int:
    """Payments, sales with receipt numbers, the days' receipt counters, refunds; returns the
    number of refunds."""
    refunded = [o for o in planned if o.refunded]
    conn = _connect("sale", dbname)
    try:
        with conn, conn.cursor() as cur:
            _copy(
                cur,
                "sale.payments",
                (
                    *("payment_ref", "store_id", "order_id", "table_no", "amount"),
                    *("payment_type", "payment_label", "created_at", "change"),
                ),
                (
                    (
                        *(o.payment_ref, store.store_id, o.order_id, o.table_no),
                        *(o.shape.priced.total, *o.tender, o.paid_at, 0),
                    )
                    for o in planned
                ),
            )
            _copy(
                cur,
                "sale.sales",
                (
                    *("id", "store_id", "order_id", "table_no", "total_price", "payment_type"),
                    *("payment_label", "status", "business_date", "created_at", "paid_at"),
                    *("completed_at", "refunded_at", "payment_ref", "subtotal", "discount_total"),
                    *("taxable_total", "exempt_total", "vat", "receipt_no", "reprint_count"),
                    "refunded_total",
                ),
                (
                    (
                        *(o.sale_id, store.store_id, o.order_id, o.table_no, o.shape.priced.total),
                        *(*o.tender, "completed", o.day, o.paid_at, o.paid_at, o.paid_at),
                        o.paid_at + REFUND_AFTER if o.refunded else None,
                        o.payment_ref,
                        *(o.shape.priced.subtotal, o.shape.priced.discount_total),
                        *(o.shape.priced.taxable_total, o.shape.priced.exempt_total),
                        *(o.shape.priced.vat, o.receipt_no, 0),
                        o.shape.priced.total if o.refunded else 0,
                    )
                    for o in planned
                ),
            )
            last_numbers: dict[date, int] = {}
            for o in planned:
                last_numbers[o.day] = last_numbers.get(o.day, 0) + 1
            # a counter already at a day (a store seeded twice) would number on from its value
            cur.executemany(
                "INSERT INTO sale.receipt_counters (store_id, business_date, last_no)"
                " VALUES (%s, %s, %s)",
                [(store.store_id, day, last) for day, last in sorted(last_numbers.items())],
            )
            if refunded:
                refund_base = _reserve_ids(cur, "sale.refunds", len(refunded))
                _copy(
                    cur,
                    "sale.refunds",
                    (
                        *("id", "store_id", "sale_id", "order_id", "business_date", "amount"),
                        *("taxable_total", "exempt_total", "vat", "payment_type", "reason"),
                        "created_at",
                    ),
                    (
                        (
                            *(refund_base + k, store.store_id, o.sale_id, o.order_id, o.day),
                            *(o.shape.refund.total, o.shape.refund.taxable_total),
                            *(o.shape.refund.exempt_total, o.shape.refund.vat),
                            *(o.tender[0], VOID_REASON, o.paid_at + REFUND_AFTER),
                        )
                        for k, o in enumerate(refunded)
                    ),
                )
                _copy(
                    cur,
                    "sale.refund_tenders",
                    ("refund_id", "payment_type", "amount"),
                    (
                        (refund_base + k, o.tender[0], o.shape.refund.total)
                        for k, o in enumerate(refunded)
                    ),
                )
    finally:
        conn.close()
    return len(refunded)


def _reserve(dbname: str, schema: str, table: str, count: int) -> int:
    conn = _connect(schema, dbname)
    try:
        with conn, conn.cursor() as cur:
            return _reserve_ids(cur, table, count)
    finally:
        conn.close()


def rebuild_daily_rows(dbname: str, store: SeededStore) -> None:
    """Orders written in bulk bypass ``pay``: the service's ``rebuild`` recomputes the rollups."""
    from sqlalchemy import create_engine

    url = postgres.service_url("order", dbname).replace("postgresql://", "postgresql+psycopg2://")
    engine = create_engine(url, connect_args={"options": '-c search_path="order"'})
    try:
        with engine.begin() as connection:
            daily_sales.rebuild(connection, store.store_id)
    finally:
        engine.dispose()


def _expect(store: SeededStore, planned: list[SeededOrder], schedule: CostSchedule) -> None:
    """Add what the dashboard must now answer (the contract's rules, from the seed's own data)."""
    expected = store.expected
    cost_on = _costs_by_day(schedule)
    for o in planned:
        priced, total = o.shape.priced, o.shape.priced.total
        day = expected.days.setdefault(o.day, [0] * 7)
        refund = o.shape.refund if o.refunded else None
        day[0] += total - (refund.total if refund else 0)
        day[2] += priced.subtotal
        day[3] += refund.total if refund else 0
        day[4] += 1
        day[5] += priced.vat
        day[6] += refund.vat if refund else 0
        kind = o.tender[0]
        expected.tenders[kind] = expected.tenders.get(kind, 0) + total
        expected.tenders[kind] -= refund.total if refund else 0
        hour = expected.hours.setdefault(o.paid_at.hour, [0, 0])
        hour[0] += 1
        hour[1] += total  # the hour's sales before refunds
        for (i, quantity), line in zip(o.shape.lines, priced.lines, strict=True):
            cost = cost_on(i, o.day)
            unit_cost = _later_cost(schedule[i], o.day) if cost is None else cost
            profit = line.net - unit_cost * quantity
            day[1] += profit
            item = expected.items.setdefault(store.item_ids[i], [0, 0, 0])
            item[0] += quantity
            item[1] += line.net
            item[2] += profit
            category = expected.categories.setdefault(store.category_ids[i], [0, 0, 0])
            category[0] += quantity
            category[1] += line.amount
            category[2] += line.net


def write_orders(
    dbname: str,
    store: SeededStore,
    *,
    orders: int,
    start: date,
    days: int,
    schedule: CostSchedule,
    window: int = 36000,
    first_hour: int = 11,
) -> dict[str, int]:
    """Paid orders in both services, then the rollups rebuilt; returns what was written."""
    planned = plan_orders(
        store,
        orders=orders,
        start=start,
        days=days,
        window=window,
        first_hour=first_hour,
        order_base=_reserve(dbname, "order", '"order".orders', orders),
        sale_base=_reserve(dbname, "sale", "sale.sales", orders),
    )
    lines = _write_order_schema(dbname, store, planned, schedule)
    refunds = _write_sale_schema(dbname, store, planned)
    rebuild_daily_rows(dbname, store)
    _expect(store, planned, schedule)
    return {"orders": len(planned), "order_lines": lines, "sales": len(planned), "refunds": refunds}


def seed_history(dbname: str, store: SeededStore, lines: int, days: int, end: date) -> dict:
    """≈ ``lines`` order lines (3 per order on average) over ``days`` business days to ``end``."""
    began = time.perf_counter()
    start = end - timedelta(days=days - 1)
    orders = max(1, -(-lines // 3))
    orders += -orders % 5  # line counts cycle 1..5: a multiple of 5 orders averages exactly 3
    schedule = write_costs(dbname, store, start, days)
    written = write_orders(dbname, store, orders=orders, start=start, days=days, schedule=schedule)
    store.stats = {
        **written,
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
                    " unit_cost, quantity, category_id, category_name)"
                    " VALUES (%s, %s, %s, %s, NULL, %s, %s, %s)",
                    [
                        (
                            *(order_id, store.item_ids[i], store.names[i], store.prices[i]),
                            *(1 + j, store.category_ids[i], store.category_names[i]),
                        )
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
    schedule = write_costs(dbname, store, today, 1)
    written = write_orders(
        dbname,
        store,
        orders=orders,
        start=today,
        days=1,
        schedule=schedule,
        window=window,
        first_hour=0,
    )
    seed_open_tables(dbname, store, open_tables, today)
    store.stats = {
        **written,
        "open_tables": open_tables,
        "seconds": round(time.perf_counter() - began, 1),
    }
    return store.stats


def analyze(dbname: str) -> None:
    """VACUUM ANALYZE the bulk-loaded tables, as a running system's autovacuum would have."""
    for schema, tables in (
        (
            "order",
            (
                *('"order".orders', '"order".order_lines', '"order".order_payments'),
                *('"order".daily_item_sales', '"order".daily_order_sales'),
                '"order".daily_category_sales',
            ),
        ),
        ("sale", ("sale.sales", "sale.payments", "sale.refunds", "sale.receipt_counters")),
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


# --------------------------------------------------------------------------------- verification

Get = Callable[[str, str], dict[str, Any]]  # (path, token) -> the JSON answer (status 200)


class SeedMismatch(AssertionError):
    """The dashboard does not answer what was seeded."""


def expected_answers(store: SeededStore, start: date, end: date) -> dict[str, Any]:
    """``sales``, ``volumes`` and ``summary`` of [start, end] as the dashboard must answer them
    (only the fields the seed determines)."""
    e = store.expected
    in_period = {day: row for day, row in e.days.items() if start <= day <= end}
    if len(in_period) != len(e.days):
        raise ValueError("the period must cover every seeded day")
    items = [  # by sales volume, then item id, as the report orders them
        {
            "item_id": item_id,
            "name": store.names[store.item_ids.index(item_id)],
            "sales_volume": volume,
            "profit": profit,
            "quantity": quantity,
        }
        for item_id, (quantity, volume, profit) in sorted(
            e.items.items(), key=lambda pair: (-pair[1][1], pair[0])
        )
    ]
    series = []
    day = start
    while day <= end:
        row = in_period.get(day, [0] * 7)
        series.append({"date": day.isoformat(), "sales_volume": row[0], "profit": row[1]})
        day += timedelta(days=1)
    gross = sum(row[2] for row in in_period.values())
    refunded = sum(row[3] for row in in_period.values())
    summary = {
        "gross_sales": gross,
        "discount_total": 0,
        "refund_total": refunded,
        "net_sales": gross - refunded,
        "vat": sum(row[5] - row[6] for row in in_period.values()),
        "exempt_total": 0,
        "order_count": sum(row[4] for row in in_period.values()),
        "by_payment_type": {kind: e.tenders.get(kind, 0) for kind in ("card", "cash", "other")},
        "by_hour": [  # every hour of the day, zeros included
            {
                "hour": hour,
                "order_count": e.hours.get(hour, [0, 0])[0],
                "total": e.hours.get(hour, [0, 0])[1],
            }
            for hour in range(24)
        ],
        "by_category": [  # by net, then category id, as the summary orders them
            {
                "category_id": category_id,
                "category_name": store.category_names[store.category_ids.index(category_id)],
                "quantity": quantity,
                "gross": category_gross,
                "net": net,
            }
            for category_id, (quantity, category_gross, net) in sorted(
                e.categories.items(), key=lambda pair: (-pair[1][2], pair[0])
            )
        ],
        "by_staff": [
            {
                "staff_id": None,
                "order_count": sum(row[4] for row in in_period.values()),
                "total": gross,
            }
        ],
    }
    return {
        "sales": {"sales_volume": gross - refunded, "items": items},
        "volumes": {"total": series},
        "summary": summary,
    }


def verify(get: Get, store: SeededStore, start: date, end: date, prefix: str = "/bff") -> None:
    """Ask the dashboard (``prefix`` ``/bff`` or ``/dashboard``) about [start, end] of a seeded
    store; raise :class:`SeedMismatch` naming every field that differs from what was seeded."""
    wanted = expected_answers(store, start, end)
    problems = []
    for name, fields in wanted.items():
        answer = get(f"{prefix}/{name}?start={start}&end={end}", store.token)
        for key, value in fields.items():
            if answer.get(key) != value:
                problems.append(f"{name}.{key}: expected {value!r}, got {answer.get(key)!r}")
    if problems:
        raise SeedMismatch(f"store {store.label} ({store.store_id}): " + "; ".join(problems))


def http_get(base: str) -> Get:
    """A :data:`Get` over HTTP (the ingress of a running stack)."""
    session = _session()

    def get(path: str, token: str) -> dict[str, Any]:
        response = session.get(
            base + path, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        if response.status_code != 200:
            raise SeedMismatch(f"GET {path}: {response.status_code} {response.text[:300]}")
        body: dict[str, Any] = response.json()
        return body

    return get


def main() -> int:
    parser = argparse.ArgumentParser(description="Seed history into a running stack.")
    parser.add_argument("--base", default="http://127.0.0.1:8000", help="the ingress")
    parser.add_argument("--dbname", default=postgres.DEFAULT_DB)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    postgres.start()
    store = create_store(args.base, "history")
    end = today_local() - timedelta(days=1)
    print(json.dumps(seed_history(args.dbname, store, args.lines, args.days, end)))
    analyze(args.dbname)
    verify(http_get(args.base), store, end - timedelta(days=args.days - 1), end)
    print(json.dumps({"store_id": store.store_id, "token": store.token}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
