"""``order_events``: the audit trail of orders and the outbox of ``orders.events``.

Every write to an order calls :func:`record_event` in its own transaction, as its last step:
the row commits or rolls back with the change. ``seq`` is numbered per store from the store's
``order_event_counters`` row, incremented (and so row-locked) in that transaction: two writers of
one store take turns from there to their commit, so per store ``seq`` order is commit order, with
no gaps (a rolled-back transaction gives its number back). Because that lock is held from the
increment to the commit, writers call this last, after every other lock they take.

The relay publishes the rows to ``orders.events`` (key = store id) through :data:`source`;
the event's shape is ``contracts/events/orders.events.v1.schema.json``.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from salesync_common.bus import Event
from salesync_common.db import upsert_insert
from salesync_common.outbox import OutboxSource, note_written
from salesync_common.timeutil import aware, utcnow

from .models import Order, OrderEvent, OrderEventCounter

SCHEMA_VERSION = "1"
# Session.info: stores whose events this transaction recorded (the live stream's tail of this
# process is woken when it commits: see ``stream.EventTail.wake_after_commits``).
WRITTEN_STORES_KEY = "salesync.order_events.stores"
# Written today; the next ones (transfers, moved lines) are the same call.
OPENED = "opened"
LINES_CHANGED = "lines_changed"
DISCOUNT_ADDED = "discount_added"
DISCOUNT_REMOVED = "discount_removed"
CANCELLED = "cancelled"
PAYMENT = "payment"
PAID = "paid"
TYPES = frozenset(
    {
        OPENED,
        LINES_CHANGED,
        DISCOUNT_ADDED,
        DISCOUNT_REMOVED,
        "transferred",
        "lines_moved",
        PAYMENT,
        PAID,
        CANCELLED,
    }
)


@functools.cache
def _reserve_statement(insert: Callable[..., Any]) -> Any:
    table = OrderEventCounter.__table__
    statement = insert(table).values(store_id=bindparam("store_id"), last_seq=bindparam("count"))
    return statement.on_conflict_do_update(
        index_elements=["store_id"],
        set_={"last_seq": table.c.last_seq + statement.excluded.last_seq},
    ).returning(table.c.last_seq)


def _reserve_seqs(session: Session, store_id: int, count: int) -> int:
    """Take the store's next ``count`` numbers (one upsert, row-locked); returns the last."""
    statement = _reserve_statement(upsert_insert(session))
    return int(session.execute(statement, {"store_id": store_id, "count": count}).scalar_one())


def record_event(
    session: Session,
    order: Order,
    type: str,
    data: dict[str, Any],
    staff_id: int | None = None,
) -> OrderEvent:
    """Append one event of ``order`` in the caller's transaction (call it last: see module doc)."""
    return record_events(session, order, [(type, data)], staff_id)[0]


def record_events(
    session: Session,
    order: Order,
    changes: Sequence[tuple[str, dict[str, Any]]],
    staff_id: int | None = None,
) -> list[OrderEvent]:
    """Append several events of ``order`` (in this order) with one counter update."""
    for type, _data in changes:
        if type not in TYPES:
            raise ValueError(f"unknown order event type {type!r}")
    last = _reserve_seqs(session, order.store_id, len(changes))
    now = utcnow()
    rows = [
        OrderEvent(
            event_id=str(uuid.uuid4()),
            store_id=order.store_id,
            seq=last - len(changes) + 1 + index,
            order_id=order.id,
            type=type,
            staff_id=staff_id,
            data=json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str),
            created_at=now,
        )
        for index, (type, data) in enumerate(changes)
    ]
    session.add_all(rows)
    note_written(session, OrderEvent.__table__)  # wakes the relay after the commit
    session.info.setdefault(WRITTEN_STORES_KEY, set()).add(order.store_id)
    return rows


def event_value(row: Row[Any] | OrderEvent) -> dict[str, Any]:
    created_at = aware(row.created_at)
    return {
        "event_id": row.event_id,
        "store_id": row.store_id,
        "seq": row.seq,
        "order_id": row.order_id,
        "type": row.type,
        "staff_id": row.staff_id,
        "data": json.loads(row.data),
        "created_at": created_at.isoformat(timespec="milliseconds"),
    }


def source(topic: str) -> OutboxSource:
    """How the relay publishes ``order_events`` rows on ``topic``."""

    def to_event(row: Row[Any]) -> Event:
        return Event(
            topic,
            str(row.store_id),
            event_value(row),
            {"event_id": row.event_id, "schema": f"{topic}.v{SCHEMA_VERSION}"},
        )

    return OutboxSource(OrderEvent.__table__, to_event, topic=topic)
