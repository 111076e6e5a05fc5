"""Stores gain an optional business number (사업자등록번호) for receipts.

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


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("business_number", sa.String(12)))


def downgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("business_number")
