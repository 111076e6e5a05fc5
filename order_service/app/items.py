"""The item service, as the order service sees it: one batched direct lookup.

Used only for what the read model of the menu (``menu.py``) cannot answer: items it has not seen,
or every item while the model is not trusted.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from salesync_common.app import runtime
from salesync_common.errors import bad_gateway
from salesync_common.http import expect_ok

from .schemas import ItemSnapshot

Catalog = dict[int, ItemSnapshot]


def lookup(store_id: int, item_ids: Iterable[int]) -> Catalog:
    """Live items of the store among ``item_ids`` (absent when unknown, foreign or retired)."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    response = (
        runtime()
        .client("item")
        .get(f"/internal/stores/{store_id}/items", params={"ids": ",".join(map(str, ids))})
    )
    body = expect_ok(response, "item")
    try:
        snapshots = [ItemSnapshot.model_validate(row) for row in body["items"]]
    except (KeyError, TypeError, ValidationError) as exc:
        raise bad_gateway("item") from exc
    return {snapshot.item_id: snapshot for snapshot in snapshots}
