"""Cash drawer shifts.

- ``shifts``: one row per shift (float, who opened/closed it, the cash figures written at close);
  at most one open shift per store (partial unique index ``uq_shifts_open_store``).
- ``cash_movements``: pay-ins and pay-outs of a shift, with their reasons.
- ``shift_settings``: per store, ``require_open_shift`` (no row: off).
- ``payments.shift_id`` and ``refunds.shift_id`` (added by 0003, always null so far) get indexes:
  the X/Z reports read a shift's rows by them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "shifts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("opening_float", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.BigInteger()),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by", sa.BigInteger()),
        sa.Column("expected_cash", sa.BigInteger()),
        sa.Column("counted_cash", sa.BigInteger()),
        sa.Column("difference", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_shifts"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_shifts_status"),
        sa.CheckConstraint("opening_float >= 0", name="ck_shifts_opening_float"),
        sa.CheckConstraint(
            "(status = 'open') = (closed_at IS NULL)", name="ck_shifts_closed_at_when_closed"
        ),
    )
    op.create_index(
        "uq_shifts_open_store",
        "shifts",
        ["store_id"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_shifts_store_day", "shifts", ["store_id", "business_date"])
    op.create_table(
        "cash_movements",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("shift_id", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("staff_id", sa.BigInteger()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cash_movements"),
        sa.ForeignKeyConstraint(
            ["shift_id"], ["shifts.id"], name="fk_cash_movements_shift_id_shifts"
        ),
        sa.CheckConstraint("kind IN ('pay_in', 'pay_out')", name="ck_cash_movements_kind"),
        sa.CheckConstraint("amount > 0", name="ck_cash_movements_amount"),
    )
    op.create_index("ix_cash_movements_shift_id", "cash_movements", ["shift_id"])
    op.create_table(
        "shift_settings",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("require_open_shift", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", name="pk_shift_settings"),
    )
    op.create_index("ix_payments_shift_id", "payments", ["shift_id"])
    op.create_index("ix_refunds_shift_id", "refunds", ["shift_id"])


def downgrade() -> None:
    op.drop_index("ix_refunds_shift_id", table_name="refunds")
    op.drop_index("ix_payments_shift_id", table_name="payments")
    op.drop_table("shift_settings")
    op.drop_table("cash_movements")
    op.drop_table("shifts")
