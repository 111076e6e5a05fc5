"""The menu read model keeps the v2 snapshot fields: tax, sold_out, category_name, option_groups.

Rows stored before keep the defaults a v1 snapshot meant (VAT included, available, no options,
category name unknown) until the item's next event or direct lookup replaces them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("menu_items") as batch:
        batch.add_column(sa.Column("tax", sa.String(8), nullable=False, server_default="vat"))
        batch.add_column(
            sa.Column("sold_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("category_name", sa.String(100)))
        batch.add_column(sa.Column("option_groups", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("menu_items") as batch:
        batch.drop_column("option_groups")
        batch.drop_column("category_name")
        batch.drop_column("sold_out")
        batch.drop_column("tax")
