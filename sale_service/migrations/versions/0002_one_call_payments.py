"""One call to pay: the payments table, sales.payment_ref, no pending/lease machinery.

- ``payments`` (keyed by ``payment_ref``). Every completed sale gets its payment, whose ref is
  the one the order service's migration gave the same order (``uuid5(LEGACY_NAMESPACE,
  "legacy-sale-<sale id>")``), and ``sales.payment_ref`` names it.
- Pending sales stay as they are: the consumer of ``orders.events`` completes the ones whose
  order was paid (the order migration publishes a ``paid`` event with ``legacy_sale_id``);
  aborted ones stay for the record. Neither is ever listed or counted.
- ``lease_until``, ``pay_attempted_at`` and the pending-sale indexes go with the recovery pass.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LEGACY_NAMESPACE = uuid.UUID("6f1c1f0e-8a59-4d47-9c1e-5b0a3f7d2e11")
PENDING = sa.text("status = 'pending'")


def _legacy_ref(sale_id: int) -> str:
    return str(uuid.uuid5(LEGACY_NAMESPACE, f"legacy-sale-{sale_id}"))


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("payment_ref", sa.String(36), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("table_no", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_type", sa.String(8), nullable=False),
        sa.Column("payment_label", sa.String(50), nullable=False),
        sa.Column("staff_id", sa.BigInteger()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("payment_ref", name="pk_payments"),
        sa.CheckConstraint(
            "payment_type IN ('card', 'cash', 'other')", name="ck_payments_payment_type"
        ),
        sa.CheckConstraint("amount >= 0", name="ck_payments_amount"),
    )
    op.create_index("ix_payments_store_id_created_at", "payments", ["store_id", "created_at"])
    op.create_index("ix_payments_order_id", "payments", ["order_id"])
    op.drop_index("ix_sales_pending", table_name="sales")
    op.drop_index("ix_sales_pending_created", table_name="sales")
    with op.batch_alter_table("sales") as batch:
        batch.add_column(sa.Column("payment_ref", sa.String(36)))
        batch.create_unique_constraint("uq_sales_payment_ref", ["payment_ref"])
        batch.drop_column("lease_until")
        batch.drop_column("pay_attempted_at")
    bind = op.get_bind()
    completed = bind.execute(
        sa.text(
            "SELECT id, store_id, order_id, table_no, total_price, payment_type, payment_label,"
            " paid_at, created_at FROM sales WHERE status = 'completed'"
        )
    ).all()
    payments = sa.table(
        "payments",
        *(
            sa.column(name)
            for name in (
                "payment_ref",
                "store_id",
                "order_id",
                "table_no",
                "amount",
                "payment_type",
                "payment_label",
                "created_at",
            )
        ),
    )
    rows = [
        {
            "payment_ref": _legacy_ref(sale.id),
            "store_id": sale.store_id,
            "order_id": sale.order_id,
            "table_no": sale.table_no,
            "amount": sale.total_price,
            "payment_type": sale.payment_type,
            "payment_label": sale.payment_label,
            "created_at": sale.paid_at or sale.created_at,
        }
        for sale in completed
    ]
    for offset in range(0, len(rows), 1000):
        bind.execute(sa.insert(payments), rows[offset : offset + 1000])
    sales = sa.table("sales", sa.column("id"), sa.column("payment_ref"))
    if completed:
        bind.execute(
            sa.update(sales).where(sales.c.id == sa.bindparam("sale_id")),
            [{"sale_id": sale.id, "payment_ref": _legacy_ref(sale.id)} for sale in completed],
        )


def downgrade() -> None:
    with op.batch_alter_table("sales") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))
        batch.add_column(
            sa.Column(
                "pay_attempted_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.now(),
            )
        )
        batch.drop_constraint("uq_sales_payment_ref", type_="unique")
        batch.drop_column("payment_ref")
    op.create_index(
        "ix_sales_pending_created",
        "sales",
        ["created_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_sales_pending",
        "sales",
        ["store_id", "table_no"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.drop_table("payments")
