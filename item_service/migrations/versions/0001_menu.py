"""Categories, items, item cost history and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = sa.text("retired_at IS NULL")


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
    ]


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_categories"),
    )
    op.create_index(
        "ux_categories_store_id_name_live",
        "categories",
        ["store_id", "name"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index("ix_categories_store_id_id", "categories", ["store_id", "id"])
    op.create_table(
        "items",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", BigId, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(500)),
        sa.Column("cost", sa.Integer()),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name="fk_items_category_id_categories"
        ),
        sa.CheckConstraint("price >= 0", name="ck_items_price_non_negative"),
        sa.CheckConstraint("cost IS NULL OR cost >= 0", name="ck_items_cost_non_negative"),
    )
    op.create_index(
        "ux_items_category_id_name_live",
        "items",
        ["category_id", "name"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index("ix_items_store_id_id", "items", ["store_id", "id"])
    op.create_index("ix_items_category_id", "items", ["category_id"])
    op.create_table(
        "item_costs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("cost", sa.Integer()),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_item_costs"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_item_costs_item_id_items"),
    )
    op.create_index(
        "ix_item_costs_item_id_effective_from", "item_costs", ["item_id", "effective_from"]
    )
    # Frozen here (not imported from salesync_common.tables): this revision must keep creating
    # what it created when it was written.
    op.create_table(
        "idempotency_keys",
        sa.Column("store_id", sa.BigInteger(), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response_status", sa.Integer()),
        sa.Column("response_body", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("item_costs")
    op.drop_table("items")
    op.drop_table("categories")
