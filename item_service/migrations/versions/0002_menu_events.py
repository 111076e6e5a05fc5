"""Item versions and the outbox of menu.items events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from salesync_common.tables import create_outbox_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing items start at version 1; their first change publishes version 2. The order
    # service learns items it has never seen through its direct lookup, which carries the version.
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    create_outbox_table(op)


def downgrade() -> None:
    op.drop_table("outbox_events")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("version")
