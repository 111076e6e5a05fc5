"""Public menu endpoints (``/categories``), exactly as the contract describes them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.auth import current_store_id

from .. import services
from ..models import Option, OptionGroup, db
from ..schemas import (
    CategoriesOut,
    CategoryDeletedOut,
    CategoryIn,
    CreatedOut,
    FailedOut,
    ItemChangedOut,
    ItemCreateIn,
    ItemUpdateIn,
    MenuOut,
    OptionGroupDeletedOut,
    OptionGroupIn,
    OptionGroupOut,
    OptionGroupUpdateIn,
)

bp = Blueprint("categories", __name__, url_prefix="/categories")
TAGS = ("categories",)


@bp.get("/")
@endpoint(
    "Live categories of the store, ascending id",
    permission="orders",
    responses={200: CategoriesOut},
    tags=TAGS,
)
def list_categories() -> dict[str, Any]:
    store_id = current_store_id()
    categories = services.list_categories(db.session(), store_id)
    return {
        "categories": [{"id": category.id, "name": category.name} for category in categories],
        "store_id": store_id,
    }


@bp.post("/")
@endpoint(
    "Create a category",
    permission="menu",
    body=CategoryIn,
    responses={201: CreatedOut, 409: FailedOut},
    idempotent=True,
    tags=TAGS,
)
def create_category(body: CategoryIn) -> tuple[dict[str, Any], int]:
    category = services.create_category(db.session(), current_store_id(), body.name)
    return {"result": "success", "message": "카테고리 등록 성공", "id": category.id}, 201


@bp.put("/<id:category_id>")
@endpoint(
    "Rename a category (its own name again is a no-op success)",
    permission="menu",
    body=CategoryIn,
    responses={200: CreatedOut, 409: FailedOut},
    tags=TAGS,
)
def rename_category(category_id: int, body: CategoryIn) -> dict[str, Any]:
    category = services.rename_category(db.session(), current_store_id(), category_id, body.name)
    return {"result": "success", "message": "카테고리 수정 성공", "id": category.id}


@bp.delete("/<id:category_id>")
@endpoint(
    "Delete (retire) a category and its items",
    permission="menu",
    responses={200: CategoryDeletedOut},
    tags=TAGS,
)
def delete_category(category_id: int) -> dict[str, Any]:
    services.retire_category(db.session(), current_store_id(), category_id)
    return {"result": "success", "message": "카테고리 삭제 성공", "category_id": category_id}


@bp.get("/items")
@endpoint(
    "The whole menu: live categories with their live items (one query)",
    permission="orders",
    responses={200: MenuOut},
    tags=TAGS,
)
def menu() -> dict[str, Any]:
    return {"categories": services.menu(db.session(), current_store_id())}


@bp.post("/<id:category_id>/items")
@endpoint(
    "Create an item in a category",
    permission="menu",
    body=ItemCreateIn,
    responses={201: CreatedOut, 409: FailedOut},
    idempotent=True,
    tags=TAGS,
)
def create_item(category_id: int, body: ItemCreateIn) -> tuple[dict[str, Any], int]:
    item = services.create_item(db.session(), current_store_id(), category_id, body)
    return {"result": "success", "message": "품목 등록 성공", "id": item.id}, 201


@bp.put("/items/<id:item_id>")
@endpoint(
    "Update an item (name, price, optionally category, description, cost, tax, sold_out)",
    permission="menu",
    body=ItemUpdateIn,
    responses={200: ItemChangedOut, 409: FailedOut},
    tags=TAGS,
)
def update_item(item_id: int, body: ItemUpdateIn) -> dict[str, Any]:
    item = services.update_item(db.session(), current_store_id(), item_id, body)
    return {"result": "success", "message": "품목 수정 성공", "item_id": item.id}


@bp.delete("/items/<id:item_id>")
@endpoint("Delete (retire) an item", permission="menu", responses={200: ItemChangedOut}, tags=TAGS)
def delete_item(item_id: int) -> dict[str, Any]:
    services.retire_item(db.session(), current_store_id(), item_id)
    return {"result": "success", "message": "품목 삭제 성공", "item_id": item_id}


def _group(group: OptionGroup, options: list[Option]) -> dict[str, Any]:
    return {
        "group_id": group.id,
        "name": group.name,
        "min_select": group.min_select,
        "max_select": group.max_select,
        "options": [
            {"option_id": option.id, "name": option.name, "price_delta": option.price_delta}
            for option in options
        ],
    }


GROUP_RULES = (
    "Names 1-100 characters; 0 <= min_select <= max_select, 1 <= max_select <= number of "
    "options; 1-50 options with unique names; price_delta integer won within ±100,000,000. "
    "Answers the group with its options ascending by id. Every change bumps the item's version "
    "and publishes its snapshot on menu.items."
)


@bp.post("/items/<id:item_id>/option-groups")
@endpoint(
    "Add an option group (with its options) to an item",
    permission="menu",
    body=OptionGroupIn,
    responses={201: OptionGroupOut},
    idempotent=True,
    description=GROUP_RULES,
    tags=TAGS,
)
def create_option_group(item_id: int, body: OptionGroupIn) -> tuple[dict[str, Any], int]:
    group, options = services.create_option_group(db.session(), current_store_id(), item_id, body)
    return _group(group, options), 201


@bp.put("/items/option-groups/<id:group_id>")
@endpoint(
    "Replace an option group: name, bounds and options",
    permission="menu",
    body=OptionGroupUpdateIn,
    responses={200: OptionGroupOut},
    description=GROUP_RULES
    + " Options given with an option_id (a live option of this group, else 404) keep that id; "
    "options without one are new; the group's live options left out are retired.",
    tags=TAGS,
)
def replace_option_group(group_id: int, body: OptionGroupUpdateIn) -> dict[str, Any]:
    group, options = services.replace_option_group(db.session(), current_store_id(), group_id, body)
    return _group(group, options)


@bp.delete("/items/option-groups/<id:group_id>")
@endpoint(
    "Delete (retire) an option group and its options",
    permission="menu",
    responses={200: OptionGroupDeletedOut},
    tags=TAGS,
)
def delete_option_group(group_id: int) -> dict[str, Any]:
    services.retire_option_group(db.session(), current_store_id(), group_id)
    return {"result": "success", "message": "옵션 그룹 삭제 성공", "group_id": group_id}
