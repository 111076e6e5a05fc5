"""Settlements remember the text they sent (v2: the text carries more than two figures).

``text`` null: sent before this revision (compared by sales volume and payments, as then).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("settlements", sa.Column("text", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("settlements") as batch:
        batch.drop_column("text")
