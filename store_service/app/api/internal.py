"""Internal endpoints for sibling services (service credential; never routed by the BFF)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint

from .. import services
from ..models import db
from ..schemas import InternalStaffListOut, InternalStoreOut

bp = Blueprint("internal_stores", __name__, url_prefix="/internal/stores")


@bp.get("/<id:store_id>")
@endpoint(
    "Store profile with time zone and business number (settlement, receipts)",
    auth="service",
    responses={200: InternalStoreOut},
    tags=("internal",),
)
def get_store(store_id: int) -> dict[str, Any]:
    store = services.get_store(db.session(), store_id)
    return {
        **store.profile(),
        "time_zone": store.time_zone,
        "business_number": store.business_number,
    }


@bp.get("/<id:store_id>/staff")
@endpoint(
    "Every staff member the store ever had, deleted ones flagged (names on orders and reports)",
    auth="service",
    responses={200: InternalStaffListOut},
    tags=("internal",),
)
def list_staff(store_id: int) -> dict[str, Any]:
    return {
        "staff": [
            {**staff.public(), "deleted": staff.deleted_at is not None}
            for staff in services.all_staff(db.session(), store_id)
        ]
    }
