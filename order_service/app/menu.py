"""The order service's read model of the menu: the hot path reads it instead of the item service.

Fed by ``menu.items`` (the item service's state-carrying events, one per item change) through a
long-lived consumer: Kafka consumer group ``order-menu-items`` in distributed runs, the
in-process bus when embedded. Each snapshot is kept only if its ``version`` is newer than the
stored one, so duplicates and out-of-order deliveries change nothing.

Freshness. The consumer records in ``menu_sync``, per partition, when it last confirmed with a
broker round trip that it had handled everything up to the end of the partition. The hot path
trusts the model only if every partition has such a confirmation younger than
``MENU_FRESHNESS_SECONDS``; otherwise (consumer behind, rebalancing, Kafka unreachable) every
lookup goes to the item service until the consumer confirms again. The table is shared, so every
worker and pod decides alike. What this bounds: a change published before a confirmation is in
the model; a change that could not reach Kafka goes unseen for at most the window after the last
confirmation, as the consumer cannot confirm without the broker.

Lookups read the model and the freshness in one query; once a process has seen the model
trusted, it reads only the items until the oldest confirmation it saw leaves the window (the same
answer ``menu_sync`` would give: confirmations never move back). Items the model has not seen yet
(or all of them while it is not trusted) are fetched with one batched call to the item service,
whose answer warms the model under the same version guard.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from salesync_common.bus import Event, in_process_bus
from salesync_common.db import prepared, upsert_insert
from salesync_common.errors import ApiError
from salesync_common.kafka import CaughtUp, KafkaRecord, KafkaSubscriber, kafka_client_config
from salesync_common.timeutil import aware, utcnow

from ..config import Settings
from .clients import Catalog, ItemGateway
from .models import MenuItem, MenuSync, OrderLine
from .schemas import ItemSnapshot, MenuItemEvent

log = logging.getLogger(__name__)

CONFIRM_INTERVAL_SECONDS = 0.25
# Snapshot fields the model keeps: every column but the key and the local write time. A new
# snapshot field is a new column here and in a migration (v2 added tax, sold_out, category_name
# and option_groups, the latter stored as JSON text).
_KEY = ("store_id", "item_id")
_STORED = tuple(
    column.name for column in MenuItem.__table__.columns if column.name not in (*_KEY, "updated_at")
)


def apply_snapshots(bind: Connection | Session, snapshots: Sequence[Mapping[str, Any]]) -> None:
    """Upsert snapshots (dicts with ``_KEY`` + ``_STORED``) where the stored version is older."""
    newest: dict[tuple[int, int], dict[str, Any]] = {}
    for snapshot in snapshots:
        key = (int(snapshot["store_id"]), int(snapshot["item_id"]))
        if key not in newest or newest[key]["version"] < snapshot["version"]:
            row = {name: snapshot.get(name) for name in (*_KEY, *_STORED)}
            row["option_groups"] = _groups_text(row["option_groups"])
            row["tax"] = row["tax"] or "vat"
            row["sold_out"] = bool(row["sold_out"])
            newest[key] = row
    if not newest:
        return
    now = utcnow()
    rows = [{**row, "updated_at": now} for _, row in sorted(newest.items())]  # one lock order
    statement = upsert_insert(bind)(MenuItem).values(rows)
    bind.execute(
        statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={name: statement.excluded[name] for name in (*_STORED, "updated_at")},
            where=MenuItem.version < statement.excluded.version,
        )
    )


def _groups_text(groups: Any) -> str:
    if isinstance(groups, str):
        return groups
    return json.dumps(groups or [], ensure_ascii=False, separators=(",", ":"))


def _event_snapshot(value: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        event = MenuItemEvent.model_validate(value)
        changed_at = datetime.fromisoformat(event.changed_at)
    except (ValidationError, ValueError):
        return None
    return {**event.model_dump(), "changed_at": changed_at}


def _warm(session: Session, store_id: int, catalog: Catalog) -> None:
    """What the item service just answered (live items) goes into the model, version-guarded."""
    snapshots = [
        {**snapshot.model_dump(), "store_id": store_id, "retired": False, "changed_at": None}
        for snapshot in catalog.values()
        if snapshot.version is not None
    ]
    apply_snapshots(session, snapshots)


def _trusted(confirmed: int | None, partitions: int | None) -> bool:
    return bool(partitions) and (confirmed or 0) >= (partitions or 0)


def _lookup_statement() -> Any:
    """The model's rows of some items and its freshness, in one query (built once: the hot path
    only binds the values)."""
    sync = (
        select(
            func.count().label("confirmed"),
            func.max(MenuSync.partitions).label("partitions"),
            func.min(MenuSync.caught_up_at).label("oldest"),
        )
        .where(
            MenuSync.topic == bindparam("topic"),
            MenuSync.caught_up_at >= bindparam("fresh_since"),
        )
        .subquery()
    )
    return (
        select(sync.c.confirmed, sync.c.partitions, sync.c.oldest, MenuItem)
        .select_from(sync)
        .outerjoin(
            MenuItem,
            and_(
                MenuItem.store_id == bindparam("store_id"),
                MenuItem.item_id.in_(bindparam("ids", expanding=True)),
            ),
        )
    )


_LOOKUP = _lookup_statement()
# The model's rows only: while the model is known to be trusted (see ``_trusted_until``).
_ITEMS = prepared(  # one prepared statement per number of ids
    select(MenuItem).where(
        MenuItem.store_id == bindparam("store_id"),
        MenuItem.item_id.in_(bindparam("ids", expanding=True)),
    )
)
# Per process and database: until when the model is known to be trusted, i.e. the oldest
# partition confirmation a lookup saw plus the freshness window. Confirmations never move back in
# time (``record_caught_up``), so until then ``menu_sync`` would answer "trusted" again; lookups
# read only the items and leave the freshness join out. Past it, the next lookup asks again.
_trusted_until: weakref.WeakKeyDictionary[Engine, dict[str, datetime]] = weakref.WeakKeyDictionary()


def lookup(
    session: Session,
    settings: Settings,
    store_id: int,
    item_ids: Iterable[int],
    items: ItemGateway,
) -> Catalog:
    """Live items of the store among ``item_ids``: the model when trusted, else the item service.

    One query reads the model's rows (and its freshness, unless known: ``_trusted_until``); at
    most one batched call asks the item service (for unseen ids, or for all of them while the
    model is not trusted).
    """
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    seen = _trusted_rows(session, settings, store_id, ids)
    catalog: Catalog = {}
    missing = ids
    if seen is not None:
        catalog = {item_id: _snapshot(item) for item_id, item in seen.items() if not item.retired}
        missing = [item_id for item_id in ids if item_id not in seen]
    if missing:
        session.rollback()  # hold no transaction open across the HTTP call
        fetched = items.lookup(store_id, missing)
        _warm(session, store_id, fetched)
        catalog.update(fetched)
    return catalog


def _trusted_rows(
    session: Session, settings: Settings, store_id: int, ids: list[int]
) -> dict[int, MenuItem] | None:
    """The model's rows of ``ids`` by item id, or None while the model is not trusted."""
    now = utcnow()
    engine = session.get_bind()
    known = _trusted_until.get(engine, {}) if isinstance(engine, Engine) else {}
    known_until = known.get(settings.menu_items_topic)
    if known_until is not None and now < known_until:
        items = session.scalars(_ITEMS, {"store_id": store_id, "ids": ids}).all()
        return {item.item_id: item for item in items}
    window = timedelta(seconds=settings.menu_freshness_seconds)
    rows = session.execute(
        _LOOKUP,
        {
            "topic": settings.menu_items_topic,
            "fresh_since": now - window,
            "store_id": store_id,
            "ids": ids,
        },
    ).all()
    if not rows or not _trusted(rows[0].confirmed, rows[0].partitions):
        return None
    if isinstance(engine, Engine):
        until = aware(rows[0].oldest) + window
        _trusted_until.setdefault(engine, {})[settings.menu_items_topic] = until
    return {row.MenuItem.item_id: row.MenuItem for row in rows if row.MenuItem is not None}


# Refusals the model's view of the menu may cause when it has not yet received a change (an item
# or option just added, an item just put back on sale): worth one direct look before answering.
SECOND_LOOK_CODES = frozenset({"unknown_item", "sold_out", "options_invalid"})
Written = TypeVar("Written")


def write_with_menu(
    session: Session,
    settings: Settings,
    store_id: int,
    item_ids: Iterable[int],
    items: ItemGateway,
    write: Callable[[Catalog], Written],
) -> Written:
    """``write(catalog)`` with the items of ``item_ids`` as :func:`lookup` sees them; if that
    refuses the cart for what the menu says (``SECOND_LOOK_CODES``), once more with the item
    service's own answer (which warms the model).

    A change the item service committed but has not yet published must not refuse a valid
    order. (The reverse, a price changed a moment ago, is the freshness window of the module
    docstring: within it an order may still take the previous price, as at a till whose screen
    updates a moment later.) ``write`` must write nothing when it refuses.
    """
    ids = sorted(set(item_ids))
    try:
        return write(lookup(session, settings, store_id, ids, items))
    except ApiError as refusal:
        if refusal.code not in SECOND_LOOK_CODES or not ids:
            raise
    session.rollback()  # hold no transaction open across the HTTP call
    fetched = items.lookup(store_id, ids)
    _warm(session, store_id, fetched)
    return write(fetched)


def _snapshot(item: MenuItem) -> ItemSnapshot:
    return ItemSnapshot.model_validate(
        {
            "item_id": item.item_id,
            "name": item.name,
            "price": item.price,
            "cost": item.cost,
            "category_id": item.category_id,
            "version": item.version,
            "tax": item.tax,
            "sold_out": item.sold_out,
            "category_name": item.category_name,
            "option_groups": json.loads(item.option_groups),
        }
    )


def lines_with_current_costs(
    session: Session, store_id: int, order_id: int
) -> tuple[list[OrderLine], dict[int, int | None]]:
    """The order's lines (id order) and the model's current unit cost of each item it knows
    (retired ones too), in one query: no HTTP call."""
    lines: list[OrderLine] = []
    costs: dict[int, int | None] = {}
    for line, known, cost in session.execute(
        _LINES_WITH_COSTS, {"store_id": store_id, "order_id": order_id}
    ):
        lines.append(line)
        if known is not None:
            costs[known] = cost
    return lines, costs


_LINES_WITH_COSTS = prepared(
    select(OrderLine, MenuItem.item_id, MenuItem.cost)
    .outerjoin(
        MenuItem,
        and_(MenuItem.store_id == bindparam("store_id"), MenuItem.item_id == OrderLine.item_id),
    )
    .where(OrderLine.order_id == bindparam("order_id"))
    .order_by(OrderLine.id)
)


def model_trusted(session: Session, settings: Settings) -> bool:
    """Would a lookup trust the model now? (status and tests)"""
    fresh_since = utcnow() - timedelta(seconds=settings.menu_freshness_seconds)
    row = session.execute(
        select(func.count(), func.max(MenuSync.partitions)).where(
            MenuSync.topic == settings.menu_items_topic, MenuSync.caught_up_at >= fresh_since
        )
    ).one()
    session.rollback()
    return _trusted(row[0], row[1])


# ---- the consumer


def record_caught_up(engine: Engine, caught: CaughtUp) -> None:
    """Store a confirmation per partition (never moving one back in time)."""
    rows = [
        {
            "topic": caught.topic,
            "partition": partition,
            "partitions": caught.partitions,
            "caught_up_at": caught.confirmed_at,
        }
        for partition in caught.caught_up
    ]
    with engine.begin() as conn:
        statement = upsert_insert(conn)(MenuSync).values(rows)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["topic", "partition"],
                set_={
                    "partitions": statement.excluded.partitions,
                    "caught_up_at": statement.excluded.caught_up_at,
                },
                where=MenuSync.caught_up_at < statement.excluded.caught_up_at,
            )
        )


class MenuEventHandler:
    """Applies one ``menu.items`` event in its own transaction (committed before the offset)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, record: KafkaRecord | Event) -> None:
        snapshot = _event_snapshot(record.value)
        if snapshot is None:
            log.warning("skipping a malformed menu.items event")  # never the body: no data
            return
        with self._engine.begin() as conn:
            apply_snapshots(conn, [snapshot])


def run_consumer(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    """Run until ``stop`` is set (a background thread started with the app)."""
    handler = MenuEventHandler(engine)
    kafka = kafka_client_config(settings)
    if kafka is not None:
        KafkaSubscriber(
            kafka,
            settings.menu_items_group,
            [settings.menu_items_topic],
            handler,
            client_id=f"{settings.service_name}-menu-items",
            poll_timeout_ms=int(CONFIRM_INTERVAL_SECONDS * 800),
            on_caught_up=lambda caught: record_caught_up(engine, caught),
            caught_up_interval_s=CONFIRM_INTERVAL_SECONDS,
        ).run_forever(stop)
        return
    # Embedded: the in-process bus is one partition whose end is "nothing left to deliver".
    bus = in_process_bus()
    bus.subscribe(settings.menu_items_topic, handler)
    while not stop.wait(CONFIRM_INTERVAL_SECONDS):
        confirmed_at = utcnow()
        if bus.caught_up(settings.menu_items_topic):
            try:
                record_caught_up(engine, CaughtUp(settings.menu_items_topic, 1, (0,), confirmed_at))
            except Exception as exc:  # the database may be busy: simply not confirmed this time
                log.warning("could not record that the menu is caught up: %s", exc)
