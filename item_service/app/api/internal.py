"""Internal endpoints for sibling services (service credential; never routed by the BFF)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.timeutil import iso

from .. import services
from ..catalog import lookup_row
from ..models import db
from ..schemas import CostHistoryOut, CostPageOut, CostsIn, IdsQuery, LiveItemsOut

bp = Blueprint("internal_items", __name__, url_prefix="/internal/stores/<id:store_id>")
TAGS = ("internal",)


@bp.get("/items")
@endpoint(
    "Live items of the store among ids, with price, current cost, version, tax, sold_out, "
    "category name and option groups (one query)",
    auth="service",
    query=IdsQuery,
    responses={200: LiveItemsOut},
    tags=TAGS,
)
def items(store_id: int, query: IdsQuery) -> dict[str, Any]:
    return {
        "items": [
            lookup_row(*row) for row in services.live_items(db.session(), store_id, query.ids)
        ]
    }


@bp.get("/costs")
@endpoint(
    "The cost page: live categories with live items, price and current cost",
    auth="service",
    responses={200: CostPageOut},
    tags=TAGS,
)
def costs(store_id: int) -> dict[str, Any]:
    return {"items": services.cost_page(db.session(), store_id)}


@bp.post("/costs")
@endpoint(
    "Set unit costs, all or nothing (null = unchanged); changes are effective now",
    auth="service",
    body=CostsIn,
    responses={200: LiveItemsOut},
    tags=TAGS,
)
def set_costs(store_id: int, body: CostsIn) -> dict[str, Any]:
    updated = services.set_costs(db.session(), store_id, body.items)
    rows = services.live_items(db.session(), store_id, [item.id for item in updated])
    order = {item.id: index for index, item in enumerate(updated)}
    return {"items": [lookup_row(*row) for row in sorted(rows, key=lambda r: order[r[0].id])]}


@bp.get("/cost-history")
@endpoint(
    "Every cost entry of the store's items (retired ones too), ascending",
    auth="service",
    query=IdsQuery,
    responses={200: CostHistoryOut},
    tags=TAGS,
)
def cost_history(store_id: int, query: IdsQuery) -> dict[str, Any]:
    history = services.cost_history(db.session(), store_id, query.ids)
    return {
        "items": [
            {
                "item_id": item_id,
                "history": [
                    {"cost": entry.cost, "effective_from": iso(entry.effective_from, "UTC")}
                    for entry in entries
                ],
            }
            for item_id, entries in history.items()
        ]
    }
