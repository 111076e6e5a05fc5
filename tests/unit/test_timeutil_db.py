"""timeutil.aware (naive means UTC) and db.upsert_insert (one upsert for PostgreSQL and SQLite)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select
from sqlalchemy.dialects import postgresql, sqlite

from salesync_common.db import upsert_insert
from salesync_common.timeutil import aware, business_date, iso


def test_naive_means_utc_and_aware_values_are_kept() -> None:
    assert aware(datetime(2026, 11, 23, 15, 0)) == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    seoul = datetime(2026, 11, 24, 0, 0, tzinfo=timezone(timedelta(hours=9)))
    assert aware(seoul) is seoul


def test_business_date_and_iso_read_naive_values_as_utc() -> None:
    naive = datetime(2026, 11, 23, 15, 30)  # 00:30 on the 24th in Seoul
    assert business_date(naive, "Asia/Seoul") == date(2026, 11, 24)
    assert business_date(naive, "UTC") == date(2026, 11, 23)
    assert iso(naive, "Asia/Seoul") == "2026-11-24T00:30:00+09:00"


def test_upsert_insert_picks_the_dialect() -> None:
    assert upsert_insert(create_engine("sqlite://")) is sqlite.insert
    assert (
        upsert_insert(create_engine("postgresql+psycopg2://u:p@127.0.0.1/x")) is postgresql.insert
    )


def test_upsert_insert_really_upserts_on_sqlite() -> None:
    engine = create_engine("sqlite://")
    counters = Table(
        "counters", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer)
    )
    counters.metadata.create_all(engine)
    with engine.begin() as conn:
        for _ in range(3):
            statement = upsert_insert(conn)(counters).values(id=1, n=1)
            conn.execute(
                statement.on_conflict_do_update(index_elements=["id"], set_={"n": counters.c.n + 1})
            )
        assert conn.execute(select(counters.c.n)).scalar_one() == 3
