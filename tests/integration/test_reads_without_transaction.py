"""``db.reads_without_transaction`` on PostgreSQL: statements run in autocommit, and the pooled
connection goes back transactional; an engine created in autocommit stays so.

Whether two statements share a transaction is read from PostgreSQL itself: ``txid_current()``
is the same for both inside one transaction, and differs when each statement commits alone.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from salesync_common.db import reads_without_transaction

TWO_TXIDS = text("SELECT txid_current()")


def txids(session: Session) -> tuple[int, int]:
    return (session.scalar(TWO_TXIDS), session.scalar(TWO_TXIDS))  # type: ignore[return-value]


def test_reads_run_in_autocommit_and_the_connection_returns_transactional(pg) -> None:
    engine = create_engine(
        pg.url("order").replace("postgresql://", "postgresql+psycopg2://"),
        pool_size=1,
        max_overflow=0,
    )
    try:
        with Session(engine) as reading:
            reads_without_transaction(reading)
            first, second = txids(reading)
            assert first != second  # each statement its own transaction
        with Session(engine) as writing:  # the same pooled connection (pool of one)
            first, second = txids(writing)
            assert first == second  # one transaction again
            writing.rollback()
        with Session(engine) as already:
            already.execute(text("SELECT 1"))
            reads_without_transaction(already)  # in a transaction: stays in it
            first, second = txids(already)
            assert first == second
            already.rollback()
    finally:
        engine.dispose()


def test_an_engine_created_in_autocommit_keeps_its_connections_so(pg) -> None:
    engine = create_engine(
        pg.url("order").replace("postgresql://", "postgresql+psycopg2://"),
        pool_size=1,
        max_overflow=0,
        isolation_level="AUTOCOMMIT",
    )
    try:
        for _ in range(2):  # checked in between: the pool's checkin hook must leave it alone
            with Session(engine) as session:
                first, second = txids(session)
                assert first != second
    finally:
        engine.dispose()
