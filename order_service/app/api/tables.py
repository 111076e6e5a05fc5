"""Table moves (``/orders/tables/<table_no>/...``) and an order's audit trail (``/events``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.auth import current_identity

from .. import clients, tables
from ..models import db
from ..schemas import MoveLinesIn, MoveLinesOut, OrderEventsOut, TransferIn, TransferOut

bp = Blueprint("order_tables", __name__, url_prefix="/orders")
TAGS = ("orders",)


@bp.post("/tables/<id:table_no>/transfer")
@endpoint(
    "Move the table's open order to another table, or merge it into that table's order",
    permission="orders",
    body=TransferIn,
    responses={200: TransferOut},
    idempotent=True,
    extra_errors=(404, 409),
    tags=TAGS,
    description="A free `to_table`: the order moves (`result: moved`, its `table_no` changes, one "
    "`transferred` event). An occupied one: the lines merge into that table's open order "
    "(`result: merged`): lines of the same item and options add up; a line the target lacks "
    "moves with its `line_id` and line discounts; the source's order discounts are dropped "
    "(`discount_removed`, `cause: merged`), the target's stay; the source ends `cancelled` "
    "with `merged_into_order_id`, and both orders get a `transferred` event. Both tables' "
    "orders are locked in ascending table number in one transaction. Refusals write nothing: "
    "same table 422 `same_table`; no open order on the source 404 `no_open_order`; merging a "
    "source with payments 409 `has_payments` (moving it to a free table is fine); two lines "
    "meeting while either has a line discount 409 `line_has_discount` (remove it first); a "
    "merged line over 999 units 409 `quantity_too_large`.",
)
def transfer(table_no: int, body: TransferIn) -> dict[str, Any]:
    identity = current_identity()
    return tables.transfer(
        db.session(), identity.store_id, table_no, body.to_table, identity.staff_id
    )


@bp.post("/tables/<id:table_no>/move-lines")
@endpoint(
    "Move units of some lines to another table's order (split a check by items)",
    permission="orders",
    body=MoveLinesIn,
    responses={200: MoveLinesOut},
    idempotent=True,
    extra_errors=(404, 409),
    tags=TAGS,
    description="Each entry names a line of the source's open order by `line_id`, or by "
    "`item_id` and `options` (the line of exactly those options; none = no options). The units "
    "go to `to_table`'s open order (opened if free), into its line of the same item and options "
    "or a new line with the same snapshot; each check is then paid on its own. A whole line "
    "onto a target without that line moves with its `line_id` and line discounts. The source's "
    "order discounts stay on the source. Both orders get a `lines_moved` event (`lines` = the "
    "moved units, `lines_after`, `total`). Refusals write nothing: same table 422 `same_table`; "
    "no open order 404 `no_open_order`; a line not on the source 404 `line_not_found`; more "
    "units than the line has 409 `quantity_exceeds_line`; every unit of the source 409 "
    "`would_empty_source` (use transfer); units of a line with a line discount that would not "
    "move as a whole line onto a target without it, or into a target line with one, 409 "
    "`line_has_discount`; the source's order discount above what is left 409 "
    "`discount_exceeds_base`; the source's total under its paid total 409 `below_paid_total`.",
)
def move_lines(table_no: int, body: MoveLinesIn) -> dict[str, Any]:
    identity = current_identity()
    return tables.move_lines(
        db.session(),
        identity.store_id,
        table_no,
        body.to_table,
        body.lines,
        identity.tz,
        identity.staff_id,
    )


@bp.get("/<id:order_id>/events")
@endpoint(
    "The order's audit trail: every change with time, staff and what changed",
    permission="orders",
    responses={200: OrderEventsOut},
    extra_errors=(404,),
    tags=TAGS,
    description="The order's `order_events` in `seq` order (`opened`, `lines_changed`, "
    "`discount_added`, `discount_removed`, `transferred`, `lines_moved`, `payment`, `paid`, "
    "`cancelled`; `data` as in contracts/events/orders.events.v1.schema.json), with the sale "
    "service's refunds of the order merged in by time (`type: refund`, `seq` null). `staff_id` "
    "null is the owner. When the sale service cannot answer, the order's own events come with "
    '`"refunds_unavailable": true` (never a 5xx). Another store\'s order is 404 '
    "`order_not_found`.",
)
def order_events(order_id: int) -> dict[str, Any]:
    identity = current_identity()
    trail = tables.order_events(db.session(), identity.store_id, order_id, identity.tz)
    refunds = clients.sale_gateway().refunds(identity.store_id, order_id, identity.tz)
    if refunds is None:
        return {"order_id": order_id, "events": trail, "refunds_unavailable": True}
    return {"order_id": order_id, "events": tables.with_refunds(trail, refunds)}
