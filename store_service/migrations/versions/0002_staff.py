"""Staff with PINs (argon2 hash + keyed lookup tag, unique among live staff) and the PIN lockout.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("staff_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("pin_hash", sa.String(255), nullable=False),
        sa.Column("pin_tag", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("staff_id", name="pk_staff"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name="fk_staff_store_id_stores", ondelete="CASCADE"
        ),
        sa.CheckConstraint("role IN ('manager', 'cashier')", name="ck_staff_role"),
    )
    op.create_index(
        "ux_staff_live_pin",
        "staff",
        ["store_id", "pin_tag"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index("ix_staff_store_id", "staff", ["store_id", "staff_id"])
    op.create_table(
        "pin_guards",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("store_id", name="pk_pin_guards"),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.store_id"],
            name="fk_pin_guards_store_id_stores",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("pin_guards")
    op.drop_index("ix_staff_store_id", table_name="staff")
    op.drop_index("ux_staff_live_pin", table_name="staff")
    op.drop_table("staff")
