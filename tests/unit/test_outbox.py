"""The transactional outbox relay (``salesync_common.outbox``) on a real database.

What it promises: rows go out in id order; only what the transport acknowledged is marked
published (the rest stays, the first refused row counts an attempt); a failing transport backs the
relay off (doubling, capped, reset by a success); on PostgreSQL one relay per table publishes at a
time, and a relay that found the table busy looks again within ``BUSY_RETRY_SECONDS``; a commit
wakes the relay at once and the ``gather_seconds`` window folds the commits of the next moments
into one publish; the backlog gauges are refreshed at most every ``observe_interval`` and fall
back to zero once the backlog is gone.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, MetaData, Table, create_engine, select, text
from sqlalchemy.orm import Session

from devstack.testing import PgDatabase, wait_for
from salesync_common import outbox
from salesync_common.bus import BatchOutcome, Event
from salesync_common.outbox import OutboxRelay, OutboxSource, add_event, generic_source
from salesync_common.tables import outbox_table


class Recorder:
    """A publisher: records every batch; acknowledges ``acks`` events of each (all when None),
    failing the rest with ``error``; ``gate`` (when given) holds ``publish_many`` until set."""

    def __init__(self, acks: int | None = None, gate: threading.Event | None = None) -> None:
        self.batches: list[list[Event]] = []
        self.acks = acks
        self.gate = gate
        self.entered = threading.Event()
        self.error = RuntimeError("broker went away")

    def publish(
        self, topic: str, key: str, value: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        raise AssertionError("the relay publishes in batches")

    def publish_many(self, events: Sequence[Event]) -> BatchOutcome:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never released the gate"
        self.batches.append(list(events))
        if self.acks is None or self.acks >= len(events):
            return BatchOutcome(len(events))
        return BatchOutcome(self.acks, self.error)

    @property
    def sent(self) -> list[Event]:
        return [event for batch in self.batches for event in batch]


class Outbox:
    """An ``outbox_events`` table of its own on one engine, and how to write to it."""

    def __init__(self, engine: Engine, name: str = "outbox_events") -> None:
        self.engine = engine
        self.table = outbox_table(MetaData()) if name == "outbox_events" else _renamed(name)
        self.table.create(engine)

    def stage(self, count: int, topic: str = "menu.items", **extra: Any) -> list[str]:
        """Commit ``count`` events, one transaction each (as ``count`` business changes do)."""
        ids = []
        for n in range(count):
            with Session(self.engine) as session:
                ids.append(add_event(session, self.table, topic=topic, key="7", payload={"n": n}))
                session.commit()
            if "after_each" in extra:
                extra["after_each"]()
        return ids

    def rows(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(self.table).order_by(self.table.c.id)))

    def relay(self, publisher: Recorder, **options: Any) -> OutboxRelay:
        return OutboxRelay(lambda: self.engine, self.table, publisher, **options)


def _renamed(name: str) -> Table:
    # A second outbox table in the same schema: the same columns, no index (its name is taken).
    columns = [column._copy() for column in outbox_table(MetaData()).columns]
    return Table(name, MetaData(), *columns)


@pytest.fixture()
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    yield engine
    engine.dispose()


@pytest.fixture()
def pg_engine(pg: PgDatabase) -> Iterator[Engine]:
    """A schema of its own in the test database (so the table is this test's alone)."""
    schema = f"outbox_{uuid.uuid4().hex[:10]}"
    url = pg.admin_url().replace("postgresql://", "postgresql+psycopg2://", 1)  # the shipped driver
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"}, pool_size=10)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "pg"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(f"{request.param}_engine")


def _run_in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(target()), daemon=True)
    thread.start()
    return thread, results


# ---------------------------------------------------------------------------------------------
# What is published, and what is marked


def test_rows_go_out_in_id_order_and_are_marked_published(any_engine: Engine) -> None:
    box = Outbox(any_engine)
    ids = box.stage(5)
    with Session(any_engine) as session:
        ids.append(
            add_event(
                session,
                box.table,
                topic="menu.items",
                key="8",
                payload={"이름": "라떼"},
                headers={"type": "item.changed"},
            )
        )
        session.commit()
    publisher = Recorder()
    relay = OutboxRelay(
        lambda: any_engine,
        generic_source(box.table, {"menu.items": "prod.menu.items"}),
        publisher,
        batch_size=4,
    )
    assert relay.run_once() == 4  # a batch at most
    assert relay.run_once() == 2
    assert relay.run_once() == 0
    assert len(publisher.batches) == 2  # nothing to send: the transport is not called
    assert [event.headers["event_id"] for event in publisher.sent] == ids
    assert [event.value for event in publisher.sent[:5]] == [{"n": n} for n in range(5)]
    last = publisher.sent[-1]
    assert (last.topic, last.key, last.value) == ("prod.menu.items", "8", {"이름": "라떼"})
    assert last.headers == {"type": "item.changed", "event_id": ids[-1]}
    assert all(row.published_at is not None and row.attempts == 0 for row in box.rows())


def test_only_acknowledged_rows_are_marked_and_the_failure_surfaces(any_engine: Engine) -> None:
    box = Outbox(any_engine)
    ids = box.stage(4)
    failing = Recorder(acks=2)
    with pytest.raises(RuntimeError, match="broker went away"):
        box.relay(failing).run_once()
    rows = box.rows()
    assert [row.published_at is not None for row in rows] == [True, True, False, False]
    # the first refused row counts the attempt; the ones behind it keep their order untouched
    assert [(row.attempts, row.last_error) for row in rows[2:]] == [
        (1, "broker went away"),
        (0, None),
    ]
    healthy = Recorder()
    assert box.relay(healthy).run_once() == 2
    assert [event.headers["event_id"] for event in healthy.sent] == ids[2:]
    assert all(row.published_at is not None for row in box.rows())


def test_a_dedicated_table_source_publishes_its_own_events(sqlite_engine: Engine) -> None:
    box = Outbox(sqlite_engine)
    box.stage(2)
    publisher = Recorder()

    def to_event(row: Any) -> Event:
        return Event("orders.events", "k", {"id": row.id})

    relay = OutboxRelay(
        lambda: sqlite_engine, OutboxSource(box.table, to_event, "orders.events"), publisher
    )
    assert relay.run_once() == 2
    assert [event.value for event in publisher.sent] == [{"id": 1}, {"id": 2}]


# ---------------------------------------------------------------------------------------------
# Back-off


class RecordingStop(threading.Event):
    """A stop event whose waits return at once, recording their timeouts; stops after ``waits``."""

    def __init__(self, waits: int) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []
        self._waits = waits

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        if len(self.timeouts) >= self._waits:
            self.set()
        return self.is_set()


class Flaky(Recorder):
    """Fails the batches whose turn (1-based) is in ``failing_turns``."""

    def __init__(self, failing_turns: set[int]) -> None:
        super().__init__()
        self.turn = 0
        self.failing_turns = failing_turns

    def publish_many(self, events: Sequence[Event]) -> BatchOutcome:
        self.turn += 1
        if self.turn in self.failing_turns:
            return BatchOutcome(0, RuntimeError("broker went away"))
        return super().publish_many(events)


def test_a_failing_transport_keeps_the_rows_and_backs_off(sqlite_engine: Engine) -> None:
    box = Outbox(sqlite_engine)
    box.stage(3)
    stop = RecordingStop(waits=5)
    box.relay(Recorder(acks=0), max_backoff=2.0, poll_interval=0.01).run_forever(stop)
    assert stop.timeouts == [0.5, 1.0, 2.0, 2.0, 2.0]  # doubling from 0.5 s, capped
    rows = box.rows()
    assert all(row.published_at is None for row in rows)
    assert [row.attempts for row in rows] == [5, 0, 0]


def test_a_success_resets_the_backoff(sqlite_engine: Engine) -> None:
    box = Outbox(sqlite_engine)
    box.stage(2)
    stop = RecordingStop(waits=3)
    # one row a batch: two failures, row 1 published (a full batch: no wait), row 2 fails
    flaky = Flaky(failing_turns={1, 2, 4})
    box.relay(flaky, batch_size=1, max_backoff=10.0).run_forever(stop)
    assert stop.timeouts == [0.5, 1.0, 0.5]  # not 2.0: the success started it over
    assert [row.published_at is not None for row in box.rows()] == [True, False]


# ---------------------------------------------------------------------------------------------
# PostgreSQL: one relay per table at a time


def test_one_relay_per_table_publishes_at_a_time(pg_engine: Engine) -> None:
    box = Outbox(pg_engine)
    first_ids = box.stage(3)
    gate = threading.Event()
    holder = Recorder(gate=gate)
    thread, published = _run_in_thread(box.relay(holder).run_once)
    assert holder.entered.wait(10), "the first relay never published"
    # a row committed while the first relay is still waiting for its acknowledgements
    late = box.stage(1)
    other = Recorder()
    other_relay = box.relay(other)
    assert other_relay.run_once() == 0  # the table is taken: publishing row 4 now would
    assert other.batches == []  # overtake rows 1-3 on the topic
    # another table has a lock of its own
    second = Outbox(pg_engine, "second_outbox")
    second.stage(1)
    assert second.relay(Recorder()).run_once() == 1
    gate.set()
    thread.join(10)
    assert published == [3]
    assert [event.headers["event_id"] for event in holder.sent] == first_ids
    assert other_relay.run_once() == 1
    assert [event.headers["event_id"] for event in other.sent] == late


def test_a_relay_that_found_the_table_busy_looks_again_soon(pg_engine: Engine) -> None:
    box = Outbox(pg_engine)
    box.stage(1)
    gate = threading.Event()
    holder = Recorder(gate=gate)
    thread, _ = _run_in_thread(box.relay(holder).run_once)
    assert holder.entered.wait(10), "the first relay never published"
    late = box.stage(1)  # committed without a wake: only the relay's own retry can find it
    attempts = [0]

    def counting_engine() -> Engine:
        attempts[0] += 1
        return pg_engine

    other = Recorder()
    relay = OutboxRelay(counting_engine, box.table, other, poll_interval=60, observe_interval=3600)
    stop = threading.Event()
    relay_thread = relay.start(stop, "busy-relay")
    try:
        # a poll interval of 60 s would give one attempt a minute: these come every 50 ms
        wait_for(lambda: attempts[0] >= 4, 10, "the busy relay to try again")
        assert other.batches == []
        gate.set()
        thread.join(10)
        wait_for(lambda: len(other.sent) == 1, 10, "the busy relay to publish the late row")
        assert other.sent[0].headers["event_id"] == late[0]
    finally:
        gate.set()
        stop.set()
        relay_thread.join(5)


# ---------------------------------------------------------------------------------------------
# Waking and gathering


def _running(relay: OutboxRelay) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    return stop, relay.start(stop, "test-relay")


def test_a_commit_wakes_the_relay_without_waiting_the_poll_interval(pg_engine: Engine) -> None:
    box = Outbox(pg_engine)
    publisher = Recorder()
    relay = box.relay(publisher, poll_interval=60, gather_seconds=0)
    stop, thread = _running(relay)
    try:
        # wake(): after a commit the caller makes
        first = box.stage(1, after_each=relay.wake)
        wait_for(lambda: len(publisher.sent) == 1, 10, "the woken relay to publish")
        # wake_after_commits: a session whose committed transaction wrote the table
        with Session(pg_engine) as session:
            relay.wake_after_commits(session)
            second = add_event(session, box.table, topic="t", key="k", payload={})
            session.commit()
        wait_for(lambda: len(publisher.sent) == 2, 10, "the commit to wake the relay")
        assert [event.headers["event_id"] for event in publisher.sent] == [*first, second]
    finally:
        stop.set()
        relay.wake()
        thread.join(5)


def test_the_gather_window_folds_several_commits_into_one_publish(pg_engine: Engine) -> None:
    box = Outbox(pg_engine)
    seed = box.stage(1)
    publisher = Recorder()
    relay = box.relay(publisher, poll_interval=60, gather_seconds=1.5)
    stop, thread = _running(relay)
    try:
        wait_for(lambda: len(publisher.batches) == 1, 10, "the first batch")
        wait_for(lambda: box.rows()[0].published_at is not None, 10, "the first batch's commit")
        # three business transactions 0.1 s apart, each waking the relay after its commit
        pause = threading.Event()
        gathered = box.stage(3, after_each=lambda: (relay.wake(), pause.wait(0.1)))
        wait_for(lambda: len(publisher.sent) == 4, 10, "the gathered commits")
        assert [[e.headers["event_id"] for e in batch] for batch in publisher.batches] == [
            seed,
            gathered,
        ]
    finally:
        stop.set()
        relay.wake()
        thread.join(5)


# ---------------------------------------------------------------------------------------------
# Backlog gauges


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _gauge(name: str, topic: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"topic": topic})


def test_backlog_gauges_are_refreshed_at_most_every_observe_interval(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(outbox, "time", clock)
    topic = f"gauge.{uuid.uuid4().hex[:8]}"
    box = Outbox(sqlite_engine)
    box.stage(2, topic=topic)
    failing = Recorder(acks=0)
    relay = box.relay(failing, observe_interval=5.0)
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert _gauge("salesync_outbox_pending", topic) == 2
    assert (_gauge("salesync_outbox_lag_seconds", topic) or 0) >= 0
    box.stage(3, topic=topic)
    clock.now += 4.9
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert _gauge("salesync_outbox_pending", topic) == 2  # not counted again yet
    clock.now += 0.1
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert _gauge("salesync_outbox_pending", topic) == 5
    # the backlog drains: the gauges say so at the next refresh
    failing.acks = None
    assert relay.run_once() == 5
    clock.now += 5
    assert relay.run_once() == 0
    assert _gauge("salesync_outbox_pending", topic) == 0
    assert _gauge("salesync_outbox_lag_seconds", topic) == 0
