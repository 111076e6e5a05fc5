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

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from salesync_common.bus import Event
from salesync_common.db import WriteBatch, prepared, upsert_insert
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


# PostgreSQL: the numbers reserved and the rows appended in one statement (one round trip, one
# plan) whatever the number of events: the events arrive as arrays, numbered by ORDINALITY.
_RESERVE_AND_APPEND = prepared(
    text(
        """
    WITH reserved AS (
        INSERT INTO order_event_counters AS counter (store_id, last_seq)
        VALUES (:store_id, :count)
        ON CONFLICT (store_id) DO UPDATE SET last_seq = counter.last_seq + excluded.last_seq
        RETURNING last_seq
    )
    INSERT INTO order_events (event_id, store_id, seq, order_id, type, staff_id, data, created_at)
    SELECT new.event_id, :store_id, reserved.last_seq - :count + new.n, :order_id, new.type,
           :staff_id, new.data, :created_at
    FROM reserved,
         unnest(CAST(:event_ids AS varchar[]), CAST(:types AS varchar[]), CAST(:data AS text[]))
             WITH ORDINALITY AS new (event_id, type, data, n)
    ORDER BY new.n
    """
    )
)


def record_event(
    session: Session,
    order: Order,
    type: str,
    data: dict[str, Any],
    staff_id: int | None = None,
) -> None:
    """Append one event of ``order`` in the caller's transaction (call it last: see module doc)."""
    record_events(session, order, [(type, data)], staff_id)


def record_events(
    session: Session,
    order: Order,
    changes: Sequence[tuple[str, dict[str, Any]]],
    staff_id: int | None = None,
    writes: WriteBatch | None = None,
) -> None:
    """Append several events of ``order`` (in this order, consecutive ``seq``) with one counter
    update.

    Pending ORM changes are flushed first, so the counter's row lock is the last one taken; on
    PostgreSQL the append is queued on ``writes`` when given (sent by the caller, last).
    """
    for type, _data in changes:
        if type not in TYPES:
            raise ValueError(f"unknown order event type {type!r}")
    session.flush()
    event_ids = [str(uuid.uuid4()) for _ in changes]
    data = [
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        for _type, value in changes
    ]
    common = {
        "store_id": order.store_id,
        "order_id": order.id,
        "staff_id": staff_id,
        "created_at": utcnow(),
    }
    if session.get_bind().dialect.name == "postgresql":
        (writes.add if writes is not None else session.execute)(
            _RESERVE_AND_APPEND,
            {
                **common,
                "count": len(changes),
                "event_ids": event_ids,
                "types": [type for type, _value in changes],
                "data": data,
            },
        )
    else:  # SQLite (make run): no INSERT in a WITH, so the two statements
        last = _reserve_seqs(session, order.store_id, len(changes))
        first = last - len(changes) + 1
        session.execute(
            _APPEND,
            [
                {**common, "event_id": event_id, "seq": first + index, "type": type, "data": body}
                for index, (event_id, (type, _value), body) in enumerate(
                    zip(event_ids, changes, data, strict=True)
                )
            ],
        )
    note_written(session, OrderEvent.__table__)  # wakes the relay after the commit
    session.info.setdefault(WRITTEN_STORES_KEY, set()).add(order.store_id)


_APPEND = OrderEvent.__table__.insert()


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
