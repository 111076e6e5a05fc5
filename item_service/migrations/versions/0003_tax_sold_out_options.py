"""Items gain tax and sold_out; option groups and options.

Existing items are VAT-included ("vat") and available (sold_out false), as they were sold so far.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
    ]


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("tax", sa.String(8), nullable=False, server_default="vat"))
        batch.add_column(
            sa.Column("sold_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_check_constraint(op.f("ck_items_tax_kind"), "tax IN ('vat', 'exempt')")
    op.create_table(
        "option_groups",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("min_select", sa.Integer(), nullable=False),
        sa.Column("max_select", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_option_groups"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_option_groups_item_id_items"),
        sa.CheckConstraint("min_select >= 0", name="ck_option_groups_min_select_non_negative"),
        sa.CheckConstraint(
            "max_select >= 1 AND max_select >= min_select",
            name="ck_option_groups_max_select_bounds",
        ),
    )
    op.create_index("ix_option_groups_item_id", "option_groups", ["item_id"])
    op.create_table(
        "options",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("group_id", BigId, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("price_delta", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_options"),
        sa.ForeignKeyConstraint(
            ["group_id"], ["option_groups.id"], name="fk_options_group_id_option_groups"
        ),
        sa.CheckConstraint(
            "price_delta BETWEEN -100000000 AND 100000000", name="ck_options_price_delta_bounds"
        ),
    )
    op.create_index("ix_options_group_id", "options", ["group_id"])


def downgrade() -> None:
    op.drop_table("options")
    op.drop_table("option_groups")
    with op.batch_alter_table("items") as batch:
        batch.drop_constraint(op.f("ck_items_tax_kind"), type_="check")
        batch.drop_column("sold_out")
        batch.drop_column("tax")
