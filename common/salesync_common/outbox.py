"""Transactional outbox: events are rows written in the business transaction, then relayed.

:func:`add_event` inserts the event in the caller's session, so it commits (or rolls back) with the
business change. :class:`OutboxRelay` publishes unpublished rows in id order and marks them
published only after the transport acknowledged them: nothing is lost while Kafka is down, and
rows are delivered when it is back (at least once; consumers deduplicate by ``event_id``).
Several relays may run (one per worker process): ``FOR UPDATE SKIP LOCKED`` gives each row to one.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from salesync_common.bus import Publisher
from salesync_common.metrics import OUTBOX_LAG, OUTBOX_PENDING, OUTBOX_PUBLISHED
from salesync_common.timeutil import utcnow

log = logging.getLogger(__name__)


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
    return event_id


class OutboxRelay:
    def __init__(
        self,
        engine_getter: Callable[[], Engine],
        table: Table,
        publisher: Publisher,
        *,
        batch_size: int = 50,
        poll_interval: float = 0.2,
        max_backoff: float = 10.0,
    ) -> None:
        self._engine = engine_getter
        self._table = table
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._wake = threading.Event()

    def wake(self) -> None:
        """Publish soon: called after a transaction that added events commits."""
        self._wake.set()

    def run_once(self) -> int:
        """Publish one batch; returns how many rows were published. Raises if publishing failed."""
        table = self._table
        published = 0
        failure: Exception | None = None
        with self._engine().begin() as conn:
            rows = conn.execute(
                select(table)
                .where(table.c.published_at.is_(None))
                .order_by(table.c.id)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                headers = json.loads(row.headers) if row.headers else {}
                headers.setdefault("event_id", row.event_id)
                try:
                    self._publisher.publish(row.topic, row.key, json.loads(row.payload), headers)
                except Exception as exc:  # stop here: later rows keep their order behind this one
                    conn.execute(
                        update(table)
                        .where(table.c.id == row.id)
                        .values(attempts=table.c.attempts + 1, last_error=str(exc)[:500])
                    )
                    failure = exc
                    break
                conn.execute(
                    update(table).where(table.c.id == row.id).values(published_at=utcnow())
                )
                OUTBOX_PUBLISHED.labels(row.topic).inc()
                published += 1
        self._observe()
        if failure is not None:
            raise failure
        return published

    def _observe(self) -> None:
        table = self._table
        try:
            with self._engine().connect() as conn:
                for topic, pending, oldest in conn.execute(
                    select(table.c.topic, func.count(), func.min(table.c.created_at))
                    .where(table.c.published_at.is_(None))
                    .group_by(table.c.topic)
                ):
                    OUTBOX_PENDING.labels(topic).set(pending)
                    if oldest is not None:
                        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
                        OUTBOX_LAG.labels(topic).set((utcnow() - oldest).total_seconds())
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
            self._wake.wait(self._poll_interval)
            self._wake.clear()

    def start(self, stop: threading.Event, name: str = "outbox-relay") -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, args=(stop,), name=name, daemon=True)
        thread.start()
        return thread
