"""Order money (v2): lines with options and a line id, discounts, tax snapshots, priced payments.

- ``order_lines`` gets its own key ``id`` (the API's ``line_id``) instead of (order_id, item_id):
  a line is (item, sorted option ids), unique per order through ``option_key`` (the sorted ids
  joined by commas, ``''`` for none). Existing rows are kept, numbered in their current order,
  with the snapshots a v1 line meant: no options, VAT included, category unknown. ``discount``
  is the line's discount (own + allocated share of order discounts) frozen when the order is
  paid (0 before, and for orders paid before this revision, which had no discount).
- ``order_discounts``: one row per discount entered (order or line, percent or amount).
- ``orders.staff_id``: who opened the order (null: the owner, and every order before this).
- ``order_payments.pricing``: the order's figures as that payment left them (JSON), so a replay
  answers the same; null before this revision (the answer then prices the order as it is).
- ``daily_item_sales`` gains ``gross`` (Σ amount) and ``discount`` (Σ discount); ``sales_volume``
  is their difference (the lines' net). Rows before this revision had no discount: gross =
  sales_volume.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-15
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LINE_KEY_INDEX = "ux_order_lines_order_id_item_id_option_key"
# the columns a v1 line had, copied as they are
V1_LINE_COLUMNS = "order_id, item_id, item_name, unit_price, unit_cost, quantity"


def _new_line_columns() -> list[sa.Column]:
    return [
        sa.Column("option_key", sa.String(200), nullable=False, server_default=""),
        sa.Column("options", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("category_id", sa.BigInteger()),
        sa.Column("category_name", sa.String(100)),
        sa.Column("tax", sa.String(8), nullable=False, server_default="vat"),
        sa.Column("discount", sa.BigInteger(), nullable=False, server_default="0"),
    ]


def _rekey_lines_postgresql() -> None:
    # PostgreSQL numbers the existing rows when the identity column is added
    op.add_column(
        "order_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
    )
    for column in _new_line_columns():
        op.add_column("order_lines", column)
    op.drop_constraint("pk_order_lines", "order_lines", type_="primary")
    op.create_primary_key("pk_order_lines", "order_lines", ["id"])


def _rekey_lines_sqlite() -> None:
    # SQLite cannot change a primary key in place: copy into the new shape, keep every row
    op.create_table(
        "order_lines_v2",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("item_name", sa.String(100), nullable=False),
        sa.Column("unit_price", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Integer()),
        sa.Column("quantity", sa.Integer(), nullable=False),
        *_new_line_columns(),
        # op.f: the final names (the table is renamed to order_lines below)
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.CheckConstraint(
            "quantity BETWEEN 1 AND 999", name=op.f("ck_order_lines_quantity_range")
        ),
    )
    op.execute(
        f"INSERT INTO order_lines_v2 ({V1_LINE_COLUMNS}) "  # noqa: S608 - constant SQL
        f"SELECT {V1_LINE_COLUMNS} FROM order_lines ORDER BY order_id, item_id"
    )
    op.drop_table("order_lines")
    op.rename_table("order_lines_v2", "order_lines")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rekey_lines_postgresql()
    else:
        _rekey_lines_sqlite()
    op.create_index(
        LINE_KEY_INDEX, "order_lines", ["order_id", "item_id", "option_key"], unique=True
    )
    op.create_table(
        "order_discounts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("line_id", sa.BigInteger()),
        sa.Column("item_id", sa.BigInteger()),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("staff_id", sa.BigInteger()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_discounts"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_discounts_order_id_orders"
        ),
        sa.CheckConstraint("scope IN ('order', 'line')", name="ck_order_discounts_scope_known"),
        sa.CheckConstraint("kind IN ('percent', 'amount')", name="ck_order_discounts_kind_known"),
        sa.CheckConstraint("value >= 1", name="ck_order_discounts_value_positive"),
    )
    op.create_index("ix_order_discounts_order_id", "order_discounts", ["order_id"])
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("staff_id", sa.BigInteger()))
    with op.batch_alter_table("order_payments") as batch:
        batch.add_column(sa.Column("pricing", sa.Text()))
    with op.batch_alter_table("daily_item_sales") as batch:
        batch.add_column(sa.Column("gross", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("discount", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE daily_item_sales SET gross = sales_volume")


def downgrade() -> None:
    with op.batch_alter_table("daily_item_sales") as batch:
        batch.drop_column("discount")
        batch.drop_column("gross")
    with op.batch_alter_table("order_payments") as batch:
        batch.drop_column("pricing")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("staff_id")
    op.drop_table("order_discounts")
    op.drop_index(LINE_KEY_INDEX, "order_lines")
    # back to one line per item: lines of one item with different options are summed
    op.execute(
        "DELETE FROM order_lines WHERE id NOT IN "
        "(SELECT min(id) FROM order_lines GROUP BY order_id, item_id)"
    )
    with op.batch_alter_table("order_lines") as batch:
        for name in ("discount", "tax", "category_name", "category_id", "options", "option_key"):
            batch.drop_column(name)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pk_order_lines", "order_lines", type_="primary")
        op.drop_column("order_lines", "id")
        op.create_primary_key("pk_order_lines", "order_lines", ["order_id", "item_id"])
