"""Split payments, pricing on sales, receipts, partial refunds.

- ``payments`` gain tender details: ``tendered``, ``change``, card approval number / issuer /
  installment months, and a nullable ``shift_id`` (shifts come later).
- ``sales`` gain the order's pricing figures at payment (``subtotal``, ``discount_total``,
  ``taxable_total``, ``exempt_total``, ``vat``), ``receipt_no`` (unique per store),
  ``printed_at``/``reprint_count`` and ``refunded_total``; ``payment_type`` may be ``mixed``.
  Sales paid before this revision had no options, discounts or exempt items: their figures are
  the whole total as VAT-included taxable (VAT = round half up of total / 11); they have no
  receipt number.
- ``receipt_counters`` (store, business day) -> last number issued.
- ``refunds`` and ``refund_tenders``; every sale refunded before this revision (a full void)
  becomes one refund row of its whole total, to its own tender, so totals read one way.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("tendered", sa.BigInteger()))
        batch.add_column(sa.Column("change", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("card_approval_no", sa.String(20)))
        batch.add_column(sa.Column("card_issuer", sa.String(50)))
        batch.add_column(sa.Column("card_installment_months", sa.Integer()))
        batch.add_column(sa.Column("shift_id", sa.BigInteger()))
    with op.batch_alter_table("sales") as batch:
        for name in ("subtotal", "discount_total", "taxable_total", "exempt_total", "vat"):
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("receipt_no", sa.String(16)))
        batch.add_column(sa.Column("printed_at", sa.DateTime(timezone=True)))
        batch.add_column(
            sa.Column("reprint_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("refunded_total", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.drop_constraint("ck_sales_payment_type", type_="check")
        batch.create_check_constraint(
            "ck_sales_payment_type_v2", "payment_type IN ('card', 'cash', 'other', 'mixed')"
        )
        batch.create_unique_constraint("uq_sales_store_receipt", ["store_id", "receipt_no"])
    # Before v2 every line was VAT-included, undiscounted: total = subtotal = taxable.
    op.execute(
        "UPDATE sales SET subtotal = total_price, taxable_total = total_price,"
        " vat = (2 * total_price + 11) / 22,"
        " refunded_total = CASE WHEN refunded_at IS NULL THEN 0 ELSE total_price END"
    )
    with op.batch_alter_table("sales") as batch:
        batch.create_check_constraint(
            "ck_sales_refunds", "refunded_total >= 0 AND refunded_total <= total_price"
        )

    op.create_table(
        "receipt_counters",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("last_no", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "business_date", name="pk_receipt_counters"),
    )
    op.create_table(
        "refunds",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("sale_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("taxable_total", sa.BigInteger(), nullable=False),
        sa.Column("exempt_total", sa.BigInteger(), nullable=False),
        sa.Column("vat", sa.BigInteger(), nullable=False),
        sa.Column("payment_type", sa.String(8), nullable=False),
        sa.Column("lines", sa.Text()),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("staff_id", sa.BigInteger()),
        sa.Column("shift_id", sa.BigInteger()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], name="fk_refunds_sale_id_sales"),
        sa.CheckConstraint("amount > 0", name="ck_refunds_amount"),
    )
    op.create_index("ix_refunds_store_day", "refunds", ["store_id", "business_date"])
    op.create_index("ix_refunds_sale_id", "refunds", ["sale_id"])
    op.create_index("ix_refunds_store_order", "refunds", ["store_id", "order_id"])
    op.create_table(
        "refund_tenders",
        sa.Column("refund_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_type", sa.String(8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("refund_id", "payment_type", name="pk_refund_tenders"),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name="fk_refund_tenders_refund_id_refunds"
        ),
        sa.CheckConstraint(
            "payment_type IN ('card', 'cash', 'other')", name="ck_refund_tenders_payment_type"
        ),
        sa.CheckConstraint("amount > 0", name="ck_refund_tenders_amount"),
    )
    # The first version's voids: one full refund each, to the sale's own tender.
    op.execute(
        "INSERT INTO refunds (store_id, sale_id, order_id, business_date, amount, taxable_total,"
        " exempt_total, vat, payment_type, reason, created_at)"
        " SELECT store_id, id, order_id, business_date, total_price, total_price, 0, vat,"
        " payment_type, '전체 취소', refunded_at FROM sales"
        " WHERE status = 'completed' AND refunded_at IS NOT NULL AND total_price > 0"
    )
    op.execute(
        "INSERT INTO refund_tenders (refund_id, payment_type, amount)"
        " SELECT id, payment_type, amount FROM refunds"
    )


def downgrade() -> None:
    op.drop_table("refund_tenders")
    op.drop_table("refunds")
    op.drop_table("receipt_counters")
    op.execute("UPDATE sales SET payment_type = 'other' WHERE payment_type = 'mixed'")
    with op.batch_alter_table("sales") as batch:
        batch.drop_constraint("ck_sales_refunds", type_="check")
        batch.drop_constraint("uq_sales_store_receipt", type_="unique")
        batch.drop_constraint("ck_sales_payment_type_v2", type_="check")
        batch.create_check_constraint(
            "ck_sales_payment_type", "payment_type IN ('card', 'cash', 'other')"
        )
        for name in (
            "refunded_total",
            "reprint_count",
            "printed_at",
            "receipt_no",
            "vat",
            "exempt_total",
            "taxable_total",
            "discount_total",
            "subtotal",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("payments") as batch:
        for name in (
            "shift_id",
            "card_installment_months",
            "card_issuer",
            "card_approval_no",
            "change",
            "tendered",
        ):
            batch.drop_column(name)
