"""Internal endpoints for sibling services (service credential; never routed by the BFF)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.timeutil import iso

from .. import services
from ..models import Item, db
from ..schemas import CostHistoryOut, CostPageOut, CostsIn, IdsQuery, LiveItemsOut

bp = Blueprint("internal_items", __name__, url_prefix="/internal/stores/<id:store_id>")
TAGS = ("internal",)


def _live_item(item: Item) -> dict[str, Any]:
    return {
        "item_id": item.id,
        "name": item.name,
        "price": item.price,
        "cost": item.cost,
        "category_id": item.category_id,
        "version": item.version,
    }


@bp.get("/items")
@endpoint(
    "Live items of the store among ids, with price, current cost and version (one query)",
    auth="service",
    query=IdsQuery,
    responses={200: LiveItemsOut},
    tags=TAGS,
)
def items(store_id: int, query: IdsQuery) -> dict[str, Any]:
    return {
        "items": [_live_item(item) for item in services.live_items(db.session, store_id, query.ids)]
    }


@bp.get("/costs")
@endpoint(
    "The cost page: live categories with live items, price and current cost",
    auth="service",
    responses={200: CostPageOut},
    tags=TAGS,
)
def costs(store_id: int) -> dict[str, Any]:
    return {"items": services.menu(db.session, store_id)}


@bp.post("/costs")
@endpoint(
    "Set unit costs, all or nothing (null = unchanged); changes are effective now",
    auth="service",
    body=CostsIn,
    responses={200: LiveItemsOut},
    tags=TAGS,
)
def set_costs(store_id: int, body: CostsIn) -> dict[str, Any]:
    updated = services.set_costs(db.session, store_id, body.items)
    return {"items": [_live_item(item) for item in updated]}


@bp.get("/cost-history")
@endpoint(
    "Every cost entry of the store's items (retired ones too), ascending",
    auth="service",
    query=IdsQuery,
    responses={200: CostHistoryOut},
    tags=TAGS,
)
def cost_history(store_id: int, query: IdsQuery) -> dict[str, Any]:
    history = services.cost_history(db.session, store_id, query.ids)
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
