"""Live table status: a store's ``order_events`` as Server-Sent Events (``GET /orders/stream``).

The outbox is the source: the stream reads the rows every order change already wrote, nothing
writes a second time. One :class:`EventTail` per process reads ``order_events`` for the stores
that have open streams, with one query per tick for all of them (never one per stream), and fans
the rows out to each stream's :class:`Subscription`. It is woken by the commits of this process
(``make run``: SQLite, everything in one process) and polls by ``seq`` otherwise (the stream
process beside the order API on PostgreSQL), so a tick costs one indexed range scan.

Ordering, gaps and duplicates rest on one invariant of ``events.record_event``: per store,
``seq`` is gapless and seq order is commit order, so once seq N is visible every seq below it is
too. A stream therefore needs only its ``last_seq``: it registers with the tail *before* it reads
the replay (``seq > Last-Event-ID``) from the table, drops whatever it already sent
(``seq <= last_seq``), and fills any hole (``seq > last_seq + 1``) from the table before going on.
A restarted process loses nothing: the client resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import bindparam, event, select, union_all
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm import Session, scoped_session

from salesync_common.timeutil import aware, iso, utcnow

from . import events
from .models import Order, OrderEvent, OrderEventCounter

log = logging.getLogger(__name__)

# SSE event names: what a till redraws. Unknown (future) row types flow as ``updated``.
EVENT_NAMES: dict[str, str] = {
    events.OPENED: "opened",
    events.LINES_CHANGED: "updated",
    "discount_added": "updated",
    "discount_removed": "updated",
    "lines_moved": "updated",
    events.PAYMENT: "updated",  # a payment short of paid; the settling one is followed by `paid`
    events.PAID: "paid",
    events.CANCELLED: "cancelled",
    "transferred": "transferred",
}
UPDATED = "updated"
BATCH_SIZE = 500
# Stores read by one statement of the tail (one UNION ALL branch each).
STORES_PER_QUERY = 100
# Tells the browser's EventSource how long to wait before reconnecting (milliseconds).
RETRY_MILLISECONDS = 2000
_ENVELOPE = ("seq", "order_id", "table_no", "type", "staff_id", "at")


def event_name(row_type: str) -> str:
    return EVENT_NAMES.get(row_type, UPDATED)


@dataclass(frozen=True)
class StreamEvent:
    """One ``order_events`` row as the stream sends it."""

    store_id: int
    seq: int
    name: str  # the SSE ``event:``
    payload: dict[str, Any]  # the SSE ``data:``

    def encode(self) -> str:
        """The SSE text, made once: the tail hands the same event to every stream of the store."""
        return self._text

    @functools.cached_property
    def _text(self) -> str:
        data = json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), default=str)
        return f"id: {self.seq}\nevent: {self.name}\ndata: {data}\n\n"


def _columns() -> list[Any]:
    # The order's table by primary key for each event read, not a join: a join let the planner
    # hash the whole ``orders`` table on every tick (a scan growing with the store's history).
    current_table = select(Order.table_no).where(Order.id == OrderEvent.order_id).scalar_subquery()
    return [
        OrderEvent.store_id,
        OrderEvent.seq,
        OrderEvent.order_id,
        OrderEvent.type,
        OrderEvent.staff_id,
        OrderEvent.data,
        OrderEvent.created_at,
        current_table.label("table_no"),
    ]


def to_stream_event(row: Row[Any]) -> StreamEvent:
    """``{seq, order_id, table_no, type, staff_id, at, ...what changed}``.

    ``table_no`` is the one the row recorded, else the order's current table.
    """
    changed = json.loads(row.data)
    created_at = aware(row.created_at)
    payload: dict[str, Any] = {
        "seq": row.seq,
        "order_id": row.order_id,
        "table_no": changed.get("table_no", row.table_no),
        "type": row.type,
        "staff_id": row.staff_id,
        "at": created_at.astimezone(UTC).isoformat(timespec="milliseconds"),
    }
    payload.update({key: value for key, value in changed.items() if key not in _ENVELOPE})
    return StreamEvent(row.store_id, row.seq, event_name(row.type), payload)


def read_events(
    engine: Engine, store_id: int, after: int, upto: int | None = None
) -> list[StreamEvent]:
    """The store's events with ``after < seq <= upto`` (no upper bound when ``upto`` is None)."""
    found: list[StreamEvent] = []
    with engine.connect() as conn:
        while True:
            query = (
                select(*_columns())
                .where(OrderEvent.store_id == store_id, OrderEvent.seq > after)
                .order_by(OrderEvent.seq)
                .limit(BATCH_SIZE)
            )
            if upto is not None:
                query = query.where(OrderEvent.seq <= upto)
            rows = conn.execute(query).all()
            found += [to_stream_event(row) for row in rows]
            if len(rows) < BATCH_SIZE:
                return found
            after = rows[-1].seq


def _tail_query(cursors: list[tuple[int, int]]) -> tuple[Any, dict[str, int]]:
    """Each store's events after its cursor, at most ``BATCH_SIZE`` a store, in one statement.

    A UNION ALL of one ``store_id = ? AND seq > ? ORDER BY seq LIMIT ?`` per store: each branch
    is a range scan of the ``(store_id, seq)`` index that stops at its limit. Not one
    ``store = A AND seq > a OR store = B AND seq > b ...`` ordered and limited overall: for that,
    PostgreSQL expects many rows and walks the whole index in order to fill the limit (73 ms a
    tick, in parallel workers, at 100k events; growing with the history).
    """
    values: dict[str, int] = {"batch": BATCH_SIZE}
    for n, (store_id, seq) in enumerate(cursors):
        values[f"store_{n}"] = store_id
        values[f"after_{n}"] = seq
    return _tail_statement(len(cursors)), values


@functools.lru_cache(maxsize=STORES_PER_QUERY)
def _tail_statement(stores: int) -> Any:
    """Built once per number of stores (every tick binds its cursors): ``_tail_query``."""
    branches = [
        select(*_columns())
        .where(
            OrderEvent.store_id == bindparam(f"store_{n}"),
            OrderEvent.seq > bindparam(f"after_{n}"),
        )
        .order_by(OrderEvent.seq)
        .limit(bindparam("batch"))
        .subquery()
        for n in range(stores)
    ]
    return union_all(*(select(branch) for branch in branches))


def head_seq(engine: Engine, store_id: int) -> int:
    """The store's newest committed ``seq`` (0 before its first event)."""
    with engine.connect() as conn:
        query = select(OrderEventCounter.last_seq).where(OrderEventCounter.store_id == store_id)
        return int(conn.execute(query).scalar_one_or_none() or 0)


class Subscription:
    """One open stream: the events the tail handed it, waiting for its thread to send them."""

    def __init__(self, store_id: int, last_seq: int) -> None:
        self.store_id = store_id
        self.last_seq = last_seq  # the newest seq this stream has sent (or was told the client has)
        self._pending: deque[StreamEvent] = deque()
        self._ready = threading.Condition()

    def offer(self, batch: list[StreamEvent]) -> None:
        with self._ready:
            self._pending.extend(batch)
            self._ready.notify()

    def take(self, timeout: float) -> list[StreamEvent]:
        """What arrived, waiting up to ``timeout`` seconds for something (an empty list if not)."""
        with self._ready:
            if not self._pending:
                self._ready.wait(timeout)
            taken = list(self._pending)
            self._pending.clear()
            return taken

    def wake(self) -> None:
        with self._ready:
            self._ready.notify()


class EventTail:
    """The one reader of ``order_events`` in this process, fanning rows out to every stream.

    Started by the first stream (the order API process never opens one, so never tails). Each tick
    runs one query per 100 stores with an open stream (:func:`_tail_query`), ``seq > cursor`` per
    store, through the ``(store_id, seq)`` unique index.
    """

    def __init__(self, engine: Engine, poll_seconds: float, stop: threading.Event) -> None:
        self._engine = engine
        self._poll_seconds = poll_seconds
        self.stop = stop
        self._lock = threading.Lock()
        self._subscriptions: dict[int, set[Subscription]] = {}
        self._cursors: dict[int, int] = {}  # store -> newest seq handed to its streams
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- streams --------------------------------------------------------------------------
    def subscribe(self, store_id: int, last_event_id: int | None) -> tuple[Subscription, int]:
        """Register a stream; returns it and the seq its replay must start after.

        The head is read before registering and the replay after it, so every event is either
        in the replay or handed over by the tail (or both: the stream drops seqs it has sent).
        """
        head = head_seq(self._engine, store_id)
        # A Last-Event-ID beyond the head was never sent by this database: start from the head.
        start = head if last_event_id is None else max(0, min(last_event_id, head))
        subscription = Subscription(store_id, start)
        with self._lock:
            self._subscriptions.setdefault(store_id, set()).add(subscription)
            self._cursors.setdefault(store_id, head)
        self._ensure_running()
        return subscription, start

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            streams = self._subscriptions.get(subscription.store_id)
            if streams is None:
                return
            streams.discard(subscription)
            if not streams:
                del self._subscriptions[subscription.store_id]
                self._cursors.pop(subscription.store_id, None)

    def open_streams(self) -> int:
        with self._lock:
            return sum(len(streams) for streams in self._subscriptions.values())

    # -- the tail -------------------------------------------------------------------------
    def wake(self) -> None:
        """Read now: a transaction of this process that wrote ``order_events`` committed."""
        self._wake.set()

    def wake_after_commits(self, session: scoped_session[Any] | Session) -> None:
        """Wake the tail whenever a transaction of ``session`` that recorded an event commits."""

        def _after_commit(committed: Session) -> None:
            if committed.info.pop(events.WRITTEN_STORES_KEY, None):
                self.wake()

        def _after_rollback(rolled_back: Session, _previous: Any) -> None:
            rolled_back.info.pop(events.WRITTEN_STORES_KEY, None)

        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_rollback)

    def _ensure_running(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self.run_forever, name="order-events-tail", daemon=True
            )
            self._thread.start()

    def run_once(self) -> bool:
        """Read what is new for every store with a stream and hand it out; True when a store
        has more than a batch waiting (read again at once)."""
        with self._lock:
            cursors = list(self._cursors.items())
        if not cursors:
            return False
        rows: list[Row[Any]] = []
        with self._engine.connect() as conn:
            for first in range(0, len(cursors), STORES_PER_QUERY):
                statement, values = _tail_query(cursors[first : first + STORES_PER_QUERY])
                rows += conn.execute(statement, values).all()
        batches: dict[int, list[StreamEvent]] = {}
        for row in rows:
            batches.setdefault(row.store_id, []).append(to_stream_event(row))
        with self._lock:
            for store_id, batch in batches.items():
                batch.sort(key=lambda streamed: streamed.seq)  # UNION ALL keeps no order
                if store_id not in self._cursors:
                    continue  # its last stream closed meanwhile
                self._cursors[store_id] = max(self._cursors[store_id], batch[-1].seq)
                for subscription in self._subscriptions.get(store_id, ()):
                    subscription.offer(batch)
        return any(len(batch) == BATCH_SIZE for batch in batches.values())

    def run_forever(self) -> None:
        backoff = 0.0
        while not self.stop.is_set():
            try:
                more = self.run_once()
                backoff = 0.0
                if more:
                    continue  # more waiting: go again at once
            except Exception as exc:
                backoff = min(5.0, max(0.5, backoff * 2))
                log.warning("order events tail failed, retrying in %.1fs: %s", backoff, exc)
                self.stop.wait(backoff)
                continue
            self._wake.wait(self._poll_seconds)
            self._wake.clear()
        with self._lock:  # the process is stopping: end every stream (clients resume by seq)
            streams = [s for group in self._subscriptions.values() for s in group]
        for subscription in streams:
            subscription.wake()


def sse_stream(
    tail: EventTail,
    engine: Engine,
    store_id: int,
    last_event_id: int | None,
    *,
    heartbeat_seconds: float,
    expires_at: float,
    clock: Callable[[], float] = time.time,
) -> Iterator[str]:
    """The text of one stream: replay after ``last_event_id``, then live, until the token expires.

    Every seq is sent once and in order: a seq at or below ``last_seq`` is dropped, a hole is
    filled from the table. A comment line every ``heartbeat_seconds`` keeps proxies from
    closing an idle connection and lets the client notice a dead one.
    """
    subscription, start = tail.subscribe(store_id, last_event_id)
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n: connected at seq {start}\n\n"
        for replayed in read_events(engine, store_id, start):
            yield replayed.encode()
            subscription.last_seq = replayed.seq
        next_heartbeat = time.monotonic() + heartbeat_seconds
        while not tail.stop.is_set():
            remaining = expires_at - clock()
            if remaining <= 0:
                return  # the token expired: the client reconnects with a fresh one
            wait = min(remaining, max(0.0, next_heartbeat - time.monotonic()))
            # what arrived together is written together: one write (and one TCP send) per tick
            # of the tail, not one per event
            parts: list[str] = []
            for received in subscription.take(wait):
                if received.seq <= subscription.last_seq:
                    continue  # already sent (replay and tail overlap)
                if received.seq > subscription.last_seq + 1:  # a hole: fill it from the table
                    for missing in read_events(
                        engine, store_id, subscription.last_seq, received.seq - 1
                    ):
                        parts.append(missing.encode())
                        subscription.last_seq = missing.seq
                parts.append(received.encode())
                subscription.last_seq = received.seq
            if parts:
                yield "".join(parts)
            if time.monotonic() >= next_heartbeat:
                yield f": heartbeat {iso(utcnow(), 'UTC')}\n\n"
                next_heartbeat = time.monotonic() + heartbeat_seconds
    finally:
        tail.unsubscribe(subscription)
