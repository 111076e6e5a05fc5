"""Payments ledger, order_events (audit trail + outbox of orders.events), menu read model.

- ``orders.paid_total`` and ``order_payments`` (one row per payment_ref). Orders paid before
  this revision get one payment each, whose ref the sale service derives the same way from the
  sale id (``uuid5(LEGACY_NAMESPACE, "legacy-sale-<id>")``), so both sides name it alike;
  then ``orders.paid_sale_id`` goes (the sale service keeps the link: ``sales.order_id``).
- ``order_event_counters`` and ``order_events``. Orders paid in the last hour get a ``paid``
  event carrying their ``legacy_sale_id``: the sale service's consumer completes any sale that
  the old protocol left pending across the deploy (its recovery pass settled older ones).
- ``menu_items`` and ``menu_sync``: the read model of the menu, filled by the consumer.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNPUBLISHED = sa.text("published_at IS NULL")
LEGACY_NAMESPACE = uuid.UUID("6f1c1f0e-8a59-4d47-9c1e-5b0a3f7d2e11")
LEGACY_EVENTS_SINCE = timedelta(hours=1)


def _legacy_ref(sale_id: int) -> str:
    return str(uuid.uuid5(LEGACY_NAMESPACE, f"legacy-sale-{sale_id}"))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def upgrade() -> None:
    op.create_table(
        "order_payments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("payment_ref", sa.String(36), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_type", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.BigInteger()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("paid_total", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_payments"),
        sa.UniqueConstraint("payment_ref", name="uq_order_payments_payment_ref"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_payments_order_id_orders"
        ),
        sa.CheckConstraint("amount >= 0", name="ck_order_payments_amount_non_negative"),
    )
    op.create_index("ix_order_payments_order_id", "order_payments", ["order_id"])
    op.create_table(
        "order_event_counters",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", name="pk_order_event_counters"),
    )
    op.create_table(
        "order_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.BigInteger()),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
        sa.UniqueConstraint("event_id", name="uq_order_events_event_id"),
        sa.UniqueConstraint("store_id", "seq", name="uq_order_events_store_id_seq"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_events_order_id_orders"
        ),
    )
    op.create_index("ix_order_events_order_id_seq", "order_events", ["order_id", "seq"])
    op.create_index(
        "ix_order_events_unpublished",
        "order_events",
        ["id"],
        postgresql_where=UNPUBLISHED,
        sqlite_where=UNPUBLISHED,
    )
    op.create_table(
        "menu_items",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Integer()),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "item_id", name="pk_menu_items"),
    )
    op.create_table(
        "menu_sync",
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("caught_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", name="pk_menu_sync"),
    )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("paid_total", sa.BigInteger(), nullable=False, server_default="0")
        )
    _backfill_payments()
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("uq_orders_paid_sale_id", type_="unique")
        batch.drop_column("paid_sale_id")


def _backfill_payments() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE orders SET paid_total = total_price WHERE status = 'paid'"))
    paid = bind.execute(
        sa.text(
            "SELECT id, store_id, table_no, total_price, paid_at, paid_business_date, paid_sale_id"
            " FROM orders WHERE status = 'paid' AND paid_sale_id IS NOT NULL"
            " ORDER BY store_id, paid_at, id"
        )
    ).all()
    payments = sa.table(
        "order_payments",
        *(
            sa.column(name)
            for name in (
                "payment_ref",
                "store_id",
                "order_id",
                "amount",
                "payment_type",
                "created_at",
                "total",
                "paid_total",
                "status",
            )
        ),
    )
    rows = [
        {
            "payment_ref": _legacy_ref(order.paid_sale_id),
            "store_id": order.store_id,
            "order_id": order.id,
            "amount": order.total_price,
            "payment_type": "other",  # the tender is the sale service's to know
            "created_at": order.paid_at,
            "total": order.total_price,
            "paid_total": order.total_price,
            "status": "paid",
        }
        for order in paid
    ]
    for offset in range(0, len(rows), 1000):
        bind.execute(sa.insert(payments), rows[offset : offset + 1000])
    since = datetime.now(UTC) - LEGACY_EVENTS_SINCE
    recent = [o for o in paid if o.paid_at is not None and _aware(o.paid_at) >= since]
    if not recent:
        return
    events = sa.table(
        "order_events",
        *(
            sa.column(name)
            for name in ("event_id", "store_id", "seq", "order_id", "type", "data", "created_at")
        ),
    )
    counters = sa.table("order_event_counters", sa.column("store_id"), sa.column("last_seq"))
    last_seq: dict[int, int] = {}
    event_rows = []
    for order in recent:
        seq = last_seq[order.store_id] = last_seq.get(order.store_id, 0) + 1
        paid_at = _aware(order.paid_at)
        data = {
            "table_no": order.table_no,
            "payment_ref": _legacy_ref(order.paid_sale_id),
            "legacy_sale_id": order.paid_sale_id,
            "total": order.total_price,
            "paid_total": order.total_price,
            "paid_at": paid_at.isoformat(timespec="seconds"),
            "paid_business_date": str(order.paid_business_date),
        }
        event_rows.append(
            {
                "event_id": str(uuid.uuid4()),
                "store_id": order.store_id,
                "seq": seq,
                "order_id": order.id,
                "type": "paid",
                "data": json.dumps(data, separators=(",", ":")),
                "created_at": paid_at,
            }
        )
    bind.execute(sa.insert(events), event_rows)
    bind.execute(sa.insert(counters), [{"store_id": s, "last_seq": n} for s, n in last_seq.items()])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("paid_sale_id", sa.BigInteger()))
        batch.create_unique_constraint("uq_orders_paid_sale_id", ["paid_sale_id"])
        batch.drop_column("paid_total")
    op.drop_table("menu_sync")
    op.drop_table("menu_items")
    op.drop_table("order_events")
    op.drop_table("order_event_counters")
    op.drop_table("order_payments")
