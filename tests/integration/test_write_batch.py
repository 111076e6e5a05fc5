"""``db.WriteBatch``: on PostgreSQL the queued writes reach the server as one message and run in
order in the caller's transaction; on SQLite each runs when added. The same writes leave the
same rows on both.

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

from salesync_common.db import WriteBatch

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


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, tmp_path) -> Iterator[Engine]:
    if request.param == "postgresql":
        url = (
            request.getfixturevalue("pg")
            .url("order")
            .replace("postgresql://", "postgresql+psycopg2://")
        )
        created = create_engine(url, pool_size=1, max_overflow=0)
    else:
        created = create_engine(f"sqlite:///{tmp_path / 'batch.db'}")
    with created.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS write_batch_notes"))
    metadata.create_all(created)
    try:
        yield created
    finally:
        metadata.drop_all(created)
        created.dispose()


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
