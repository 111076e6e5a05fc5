"""Transactional outbox: events are rows written in the business transaction, then relayed.

:func:`add_event` inserts the event in the caller's session, so it commits (or rolls back) with the
business change. :class:`OutboxRelay` publishes unpublished rows in id order and marks them
published only after the transport acknowledged them: nothing is lost while Kafka is down, and
rows are delivered when it is back (at least once; consumers deduplicate by ``event_id``).

The relay reads any table through an :class:`OutboxSource` (which rows, and how a row becomes an
event): the shared ``outbox_events`` table (:func:`generic_source`) or a table that is also
something else, such as the order service's ``order_events`` (the audit trail of orders *and* the
outbox of ``orders.events``). It publishes a batch at once (send all, then one wait for the
acknowledgements), so the outbox costs the hot path one INSERT and nothing more.

Several relays may run (one per worker process): on PostgreSQL a transaction-level advisory lock
per table lets one of them publish at a time, so a topic receives the rows in id order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, event, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import Session, scoped_session

from salesync_common.bus import Event, Publisher
from salesync_common.metrics import OUTBOX_LAG, OUTBOX_PENDING, OUTBOX_PUBLISHED
from salesync_common.timeutil import aware, utcnow

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 0.05
_WAKE_KEY = "salesync.outbox.tables"  # Session.info: outbox tables written in this transaction


def add_event(
    session: Session,
    table: Table,
    *,
    topic: str,
    key: str,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
    event_id: str | None = None,
) -> str:
    """Stage an event in the caller's transaction; returns its ``event_id``."""
    event_id = event_id or str(uuid.uuid4())
    session.execute(
        insert(table).values(
            event_id=event_id,
            topic=topic,
            key=key,
            payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            headers=json.dumps(headers) if headers else None,
            created_at=utcnow(),
            attempts=0,
        )
    )
    note_written(session, table)
    return event_id


def note_written(session: Session, table: Table) -> None:
    """Remember that this transaction wrote ``table``: its relay is woken after the commit."""
    session.info.setdefault(_WAKE_KEY, set()).add(table.name)


@dataclass(frozen=True)
class OutboxSource:
    """How a relay reads one outbox table.

    ``table`` needs an increasing ``id``, a nullable ``published_at`` and ``created_at``;
    ``to_event`` turns one of its rows into the record to publish. ``topic`` names the single
    topic of a dedicated table (metrics label); None means the table has a ``topic`` column.
    """

    table: Table
    to_event: Callable[[Row[Any]], Event]
    topic: str | None = None


def generic_source(table: Table, topics: Mapping[str, str] | None = None) -> OutboxSource:
    """The shared ``outbox_events`` table (see ``tables.outbox_table``): any topic, JSON payload.

    ``topics`` maps a row's topic to the one configured for it (settings, tests).
    """
    rename = dict(topics or {})

    def to_event(row: Row[Any]) -> Event:
        headers = json.loads(row.headers) if row.headers else {}
        headers.setdefault("event_id", row.event_id)
        return Event(rename.get(row.topic, row.topic), row.key, json.loads(row.payload), headers)

    return OutboxSource(table, to_event)


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(f"salesync-outbox-{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class OutboxRelay:
    def __init__(
        self,
        engine_getter: Callable[[], Engine],
        source: OutboxSource | Table,
        publisher: Publisher,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_backoff: float = 10.0,
        observe_interval: float = 5.0,
        gather_seconds: float = 0.0,
    ) -> None:
        self._engine = engine_getter
        self._source = source if isinstance(source, OutboxSource) else generic_source(source)
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._observe_interval = observe_interval
        self._gather_seconds = gather_seconds
        self._observed_at = float("-inf")
        self._backlog_topics: set[str] = set()  # topics whose gauges this relay has set
        self._turn_taken = False  # the last run found another relay publishing this table
        self._wake = threading.Event()
        self._lock_key = _lock_key(self._source.table.name)

    def wake(self) -> None:
        """Publish soon: called after a transaction that added events commits."""
        self._wake.set()

    def wake_after_commits(self, session: scoped_session[Any] | Session) -> None:
        """Wake this relay whenever a transaction of ``session`` that wrote its table commits."""
        name = self._source.table.name

        def _after_commit(committed: Session) -> None:
            written = committed.info.get(_WAKE_KEY)
            if written and name in written:
                written.discard(name)
                self.wake()

        def _after_rollback(rolled_back: Session) -> None:
            written = rolled_back.info.get(_WAKE_KEY)
            if written:
                written.discard(name)

        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", lambda s, _previous: _after_rollback(s))

    def _take_turn(self, conn: Connection) -> bool:
        """One relay per table at a time (PostgreSQL), so the topic gets the rows in id order."""
        if conn.dialect.name != "postgresql":
            return True  # SQLite (embedded): one process, one relay per table
        return bool(
            conn.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": self._lock_key}
            ).scalar_one()
        )

    def run_once(self) -> int:
        """Publish one batch; returns how many rows were published. Raises if publishing failed."""
        table = self._source.table
        failure: Exception | None = None
        published = 0
        with self._engine().begin() as conn:
            self._turn_taken = not self._take_turn(conn)
            if self._turn_taken:
                return 0
            rows = conn.execute(
                select(table)
                .where(table.c.published_at.is_(None))
                .order_by(table.c.id)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                self._observe_now_and_then()
                return 0
            events = [self._source.to_event(row) for row in rows]
            outcome = self._publisher.publish_many(events)
            published = outcome.acknowledged
            if published:
                conn.execute(
                    update(table)
                    .where(table.c.id.in_([row.id for row in rows[:published]]))
                    .values(published_at=utcnow())
                )
                topics: dict[str, int] = {}
                for sent in events[:published]:
                    topics[sent.topic] = topics.get(sent.topic, 0) + 1
                for topic, count in topics.items():
                    OUTBOX_PUBLISHED.labels(topic).inc(count)
            if outcome.error is not None:
                failure = outcome.error
                if "attempts" in table.c and published < len(rows):
                    # later rows keep their order behind this one
                    conn.execute(
                        update(table)
                        .where(table.c.id == rows[published].id)
                        .values(attempts=table.c.attempts + 1, last_error=str(failure)[:500])
                    )
        self._observe_now_and_then()
        if failure is not None:
            raise failure
        return published

    def _observe_now_and_then(self) -> None:
        """Refresh the backlog gauges at most every ``observe_interval`` (a scrape is every
        15 s or more): not a counting query after every batch and every idle poll."""
        now = time.monotonic()
        if now - self._observed_at >= self._observe_interval:
            self._observed_at = now
            self._observe()

    def _observe(self) -> None:
        """Set the gauges of every topic with a backlog, and zero those of topics whose backlog
        is gone (grouped by topic, a drained topic has no row: its gauges would stay stale)."""
        table, fixed_topic = self._source.table, self._source.topic
        try:
            with self._engine().connect() as conn:
                topic_column = table.c.topic if fixed_topic is None else None
                columns = [func.count(), func.min(table.c.created_at)]
                query = select(*columns).where(table.c.published_at.is_(None))
                if topic_column is not None:
                    query = query.add_columns(topic_column).group_by(topic_column)
                seen: set[str] = set()
                for row in conn.execute(query):
                    pending, oldest = row[0], row[1]
                    topic: str = row[2] if fixed_topic is None else fixed_topic
                    seen.add(topic)
                    OUTBOX_PENDING.labels(topic).set(pending)
                    if oldest is not None:
                        OUTBOX_LAG.labels(topic).set((utcnow() - aware(oldest)).total_seconds())
                    else:
                        OUTBOX_LAG.labels(topic).set(0)
                for drained in self._backlog_topics - seen:
                    OUTBOX_PENDING.labels(drained).set(0)
                    OUTBOX_LAG.labels(drained).set(0)
                self._backlog_topics = seen
        except Exception:  # metrics must never break the relay
            log.debug("outbox metrics unavailable", exc_info=True)

    def run_forever(self, stop: threading.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            try:
                published = self.run_once()
                backoff = 0.0
                if published == self._batch_size:
                    continue  # more waiting: go again at once
            except Exception as exc:
                backoff = min(self._max_backoff, max(0.5, backoff * 2))
                log.warning("outbox publish failed, retrying in %.1fs: %s", backoff, exc)
                stop.wait(backoff)
                continue
            # Commits of this process wake the relay at once; the poll finds the rest (another
            # process's rows, a crash's leftovers). When another relay held the table, ours may
            # have committed after its read: look again soon rather than a poll later.
            woken = self._wake.wait(BUSY_RETRY_SECONDS if self._turn_taken else self._poll_interval)
            if woken and self._gather_seconds:
                # let the commits of the next moments join this batch: one read, one produce
                # request and one update for several business transactions, not one each
                stop.wait(self._gather_seconds)
            self._wake.clear()

    def start(self, stop: threading.Event, name: str = "outbox-relay") -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, args=(stop,), name=name, daemon=True)
        thread.start()
        return thread
