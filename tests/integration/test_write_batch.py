"""``db.WriteBatch`` and ``db.prepared``.

WriteBatch: on PostgreSQL the queued writes reach the server as one message and run in order in
the caller's transaction; on SQLite each runs when added. The same writes leave the same rows
on both. ``prepared`` statements run as ``EXECUTE`` of a statement prepared once per
connection, with the same answers and row counts; one PostgreSQL cannot prepare runs as it is.

Round trips are counted at the driver (``before_cursor_execute``: one per ``cursor.execute``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.db import (
    WriteBatch,
    prepared,
    prepared_source,
    reads_without_transaction,
    rows_matched,
)

metadata = MetaData()
notes = Table(
    "write_batch_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("body", String(200)),
    Column("revision", Integer, nullable=False, default=0),  # a Python-side default
)
ADD = insert(notes)
REVISE = (
    update(notes)
    .where(notes.c.name == bindparam("note_name"))
    .values(body=bindparam("new_body"), revision=notes.c.revision + 1)
)
# text, as the services write their PostgreSQL-only statements
RENAME = text("UPDATE write_batch_notes SET name = :to_name WHERE name = :from_name RETURNING id")


def _with_notes(created: Engine) -> Iterator[Engine]:
    """``created`` with an empty notes table, dropped and disposed of afterwards."""
    with created.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS write_batch_notes"))
    metadata.create_all(created)
    try:
        yield created
    finally:
        metadata.drop_all(created)
        created.dispose()


def _postgresql(request) -> Engine:
    url = request.getfixturevalue("pg").url("order")
    return create_engine(
        url.replace("postgresql://", "postgresql+psycopg2://"), pool_size=1, max_overflow=0
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, tmp_path) -> Iterator[Engine]:
    if request.param == "postgresql":
        yield from _with_notes(_postgresql(request))
    else:
        yield from _with_notes(create_engine(f"sqlite:///{tmp_path / 'batch.db'}"))


@pytest.fixture
def round_trips(engine: Engine) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def rows(engine: Engine) -> list[tuple[str, str | None, int]]:
    with engine.connect() as connection:
        found = connection.execute(
            select(notes.c.name, notes.c.body, notes.c.revision).order_by(notes.c.name)
        )
        return [tuple(row) for row in found]  # type: ignore[misc]


def test_writes_run_in_order_in_one_round_trip_on_postgresql(engine, round_trips) -> None:
    tricky = '50% off; it\'s "quoted" -- %(name)s \\ 한글'
    with Session(engine) as session:
        writes = WriteBatch(session)
        writes.add(ADD, {"name": "a", "body": tricky})
        writes.add(ADD, {"name": "b", "body": None})
        writes.add(REVISE, {"note_name": "a", "new_body": tricky + "!"})  # sees the row above
        writes.add(RENAME, {"from_name": "b", "to_name": "c"})
        renamed = writes.send()
        assert renamed is not None
        assert renamed.scalar() is not None  # the last statement's rows
        assert writes.send() is None  # nothing added since
        session.commit()
    batched = engine.dialect.name == "postgresql"
    assert writes.batched is batched
    assert len(round_trips) == (1 if batched else 4), round_trips
    assert rows(engine) == [("a", tricky + "!", 1), ("c", None, 0)]


def test_the_first_error_stops_the_batch_and_rolls_back_with_the_transaction(
    engine, round_trips
) -> None:
    with Session(engine) as session:
        session.execute(ADD, {"name": "kept", "body": "before"})
        session.commit()
    with Session(engine) as session, pytest.raises(IntegrityError):
        writes = WriteBatch(session)
        writes.add(REVISE, {"note_name": "kept", "new_body": "changed"})
        writes.add(ADD, {"name": "kept", "body": "again"})  # duplicate name
        writes.add(ADD, {"name": "never", "body": None})
        writes.send()
        session.commit()
    assert rows(engine) == [("kept", "before", 0)]


def test_nothing_queued_sends_nothing(engine, round_trips) -> None:
    with Session(engine) as session:
        session.execute(text("SELECT 1"))
        round_trips.clear()
        assert WriteBatch(session).send() is None
        session.rollback()
    assert round_trips == []


def test_a_batch_alone_is_its_own_transaction_in_one_message(pg_engine) -> None:
    """``alone``: no BEGIN or COMMIT round trip; PostgreSQL commits the message as a whole (a
    later rollback of the session cannot undo it), or nothing of it when a statement fails; the
    session is transactional again afterwards."""
    sent: list[str] = []
    event.listen(pg_engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    with Session(pg_engine) as session:
        writes = WriteBatch(session, alone=True)
        writes.add(ADD, {"name": "a", "body": None})
        writes.add(ADD, {"name": "b", "body": None})
        writes.send()
        session.rollback()  # too late: committed by PostgreSQL with the message
    assert rows(pg_engine) == [("a", None, 0), ("b", None, 0)]
    with Session(pg_engine) as session, pytest.raises(IntegrityError):
        writes = WriteBatch(session, alone=True)
        writes.add(ADD, {"name": "c", "body": None})
        writes.add(ADD, {"name": "a", "body": None})  # duplicate: the whole message fails
        writes.send()
    assert rows(pg_engine) == [("a", None, 0), ("b", None, 0)]
    with Session(pg_engine) as session:
        writes = WriteBatch(session, alone=True)
        writes.add(ADD, {"name": "d", "body": None})
        writes.send()
        first, second = (session.scalar(text("SELECT txid_current()")) for _ in range(2))
        assert first == second  # one transaction again after the message
        session.rollback()
    assert [name for name, _body, _revision in rows(pg_engine)] == ["a", "b", "d"]
    batches = [s for s in sent if s.startswith("EXECUTE salesync_")]  # one message each
    assert [s.count("EXECUTE") for s in batches] == [2, 2, 1], sent


# ---- db.prepared: server-side prepared statements on PostgreSQL


@pytest.fixture
def pg_engine(request) -> Iterator[Engine]:
    yield from _with_notes(_postgresql(request))


def test_prepared_statements_run_as_execute_with_the_same_answers(pg_engine) -> None:
    find = prepared(
        select(notes.c.name, notes.c.revision)
        .where(notes.c.body.like("%" + "x"))  # a literal % in the statement
        .where(notes.c.name == bindparam("name"))
    )
    revise = prepared(REVISE)
    sent: list[str] = []
    event.listen(pg_engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    for round_ in range(7):  # past the 5 custom plans: PostgreSQL's generic plan from then on
        with Session(pg_engine) as session:
            if round_ == 0:
                session.execute(ADD, {"name": "n", "body": "box"})
            changed = session.execute(revise, {"note_name": "n", "new_body": "50% x"})
            assert rows_matched(changed) == 1  # the row count of the statement EXECUTE ran
            assert session.execute(find, {"name": "n"}).all() == [("n", round_ + 1)]
            missing = session.execute(revise, {"note_name": "none", "new_body": "x"})
            assert rows_matched(missing) == 0
            session.commit()
    executed = [s for s in sent if s.startswith("EXECUTE salesync_")]
    assert len(executed) == 7 * 3, sent
    with pg_engine.connect() as connection:
        names = connection.execute(
            text("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'salesync_%'")
        ).scalar()
        assert names == 2  # one PREPARE per statement on the pool's one connection
        source = prepared_source(connection, executed[0])
        assert source.startswith("UPDATE write_batch_notes SET body=%(new_body)s"), source


def test_a_statement_postgresql_cannot_prepare_runs_as_it_is(pg_engine) -> None:
    untyped = prepared(text("SELECT :value IS NULL"))  # $1 of no type: PREPARE refuses it
    with Session(pg_engine) as session:
        session.execute(ADD, {"name": "kept", "body": None})
        assert session.execute(untyped, {"value": None}).scalar() is True
        session.commit()  # the refused PREPARE did not abort the transaction
    with Session(pg_engine) as session:
        reads_without_transaction(session)  # autocommit: no savepoint around the PREPARE
        assert session.execute(untyped, {"value": 1}).scalar() is False
    assert rows(pg_engine) == [("kept", None, 0)]
