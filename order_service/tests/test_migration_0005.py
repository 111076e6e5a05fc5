"""Migration 0005 on PostgreSQL keeps every v1 line (numbered, v1 snapshots) and daily row."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from devstack import postgres
from devstack.testing import PgDatabase, make_settings
from order_service.config import SCHEMA
from salesync_common.db import database_url, engine_options
from salesync_common.migrate import upgrade


def test_v1_lines_and_daily_rows_survive_the_rekey(pg):
    database = PgDatabase(f"salesync_mig_{uuid.uuid4().hex[:10]}")
    postgres.provision(database.name)
    try:
        settings = make_settings("order_service", database)
        upgrade("order_service", settings, SCHEMA, "0004")
        engine = sa.create_engine(
            database_url(settings, "order"),
            **engine_options(settings, database.url(SCHEMA), SCHEMA),
        )
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO orders (id, store_id, table_no, status, version, business_date,"
                    " opened_at, updated_at, paid_at, paid_business_date, total_price, paid_total)"
                    " VALUES (1, 9, 1, 'paid', 2, '2026-12-01', now(), now(), now(),"
                    " '2026-12-01', 7000, 7000)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO order_lines (order_id, item_id, item_name, unit_price,"
                    " unit_cost, quantity) VALUES (1, 7, 'a', 2000, 500, 2), (1, 8, 'b', 3000,"
                    " NULL, 1)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO daily_item_sales (store_id, business_date, item_id, item_name,"
                    " quantity, sales_volume, cost_total, uncosted_quantity, last_paid_at)"
                    " VALUES (9, '2026-12-01', 7, 'a', 2, 4000, 1000, 0, now())"
                )
            )
        upgrade("order_service", settings, SCHEMA, "head")
        with engine.begin() as conn:
            lines = conn.execute(
                sa.text(
                    "SELECT id, item_id, quantity, option_key, options, tax, discount"
                    " FROM order_lines ORDER BY id"
                )
            ).all()
            daily = conn.execute(
                sa.text("SELECT sales_volume, gross, discount FROM daily_item_sales")
            ).one()
            # new lines are numbered after the kept ones; one (item, options) per order
            new_id = conn.execute(
                sa.text(
                    "INSERT INTO order_lines (order_id, item_id, option_key, item_name,"
                    " unit_price, quantity) VALUES (1, 7, '3', 'a', 2500, 1) RETURNING id"
                )
            ).scalar_one()
        assert [tuple(line)[1:] for line in lines] == [
            (7, 2, "", "[]", "vat", 0),
            (8, 1, "", "[]", "vat", 0),
        ]
        assert len({line.id for line in lines}) == 2 and new_id > max(line.id for line in lines)
        assert tuple(daily) == (4000, 4000, 0)
        engine.dispose()
    finally:
        postgres.drop_database(database.name)
