"""``GET /orders/<order_id>/receipt``: the receipt of a paid order, which the sale service owns.

A thin view over the sale service's internal receipt endpoint (docs/internal-api.md): the order
service does not keep receipts, it only serves the path under its public prefix.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.auth import current_identity
from salesync_common.errors import NotFound

from .. import clients

bp = Blueprint("order_receipts", __name__, url_prefix="/orders")


@bp.get("/<id:order_id>/receipt")
@endpoint(
    "The receipt of a paid order (a reprint after the first read)",
    permission="payments",
    extra_errors=(404, 502, 503, 504),
    tags=("orders",),
    description="The sale service's receipt of the order (the shape of `GET "
    "/sales/receipts/<receipt_no>`); 404 `receipt_not_found` while the order is not paid or "
    "is another store's. Each read after the first counts as a reprint (`reprint_count`).",
)
def order_receipt(order_id: int) -> dict[str, Any]:
    identity = current_identity()
    receipt = clients.sale_gateway().receipt(identity.store_id, order_id, identity.tz)
    if receipt is None:
        raise NotFound("영수증이 없습니다.", code="receipt_not_found")
    return receipt
