"""Table merges: ``orders.merged_into_order_id``.

A transfer onto an occupied table merges the source order's lines into that table's open order
and cancels the source; this column links the cancelled source to the order it was merged into
(null for every other order, and for every order before this revision).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("merged_into_order_id", sa.BigInteger()))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("merged_into_order_id")
