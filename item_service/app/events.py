"""``menu.items``: one state-carrying event per item change, written through the outbox.

Every change of an item (create, update, retire, its category renamed or retired, a cost change,
tax, sold out, its option groups or options) calls :func:`item_changed` (or
:func:`items_changed`) in the transaction that makes the change: it bumps the item's ``version``
and stages the item's whole snapshot for topic ``menu.items`` (key = store id). Consumers keep the
snapshot with the highest version per item, so duplicates and reordering change nothing.

The event's shape is ``contracts/events/menu.items.v1.schema.json``. New item attributes are new
keys of :func:`snapshot` (v2 added ``tax``, ``sold_out``, ``category_name``, ``option_groups``):
consumers ignore keys they do not know yet, so adding one is backward compatible (a breaking
change is a new topic version).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from salesync_common.outbox import add_event
from salesync_common.timeutil import utcnow

from .catalog import item_details
from .models import Item, Outbox

TOPIC = "menu.items"
SCHEMA_VERSION = "1"


def snapshot(item: Item, category_name: str, option_groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The item as consumers see it (everything but the event's own id and time)."""
    return {
        "store_id": item.store_id,
        "item_id": item.id,
        "category_id": item.category_id,
        "name": item.name,
        "price": item.price,
        "cost": item.cost,
        "retired": item.retired_at is not None,
        "version": item.version,
        "tax": item.tax,
        "sold_out": item.sold_out,
        "category_name": category_name,
        "option_groups": option_groups,
    }


def item_changed(session: Session, item: Item) -> None:
    """Bump the version of a changed (row-locked or new) item and stage its snapshot."""
    items_changed(session, [item])


def items_changed(session: Session, items: Sequence[Item]) -> None:
    """Bump the version of each changed (row-locked or new) item and stage its snapshot.

    The caller holds the items' row locks (or created them), so versions of one item are assigned
    one at a time; the events commit or roll back with the change. The snapshots (category name
    and option groups included) are read in one query, after the pending changes are flushed.
    """
    if not items:
        return
    session.flush()  # new items need their ids; the query must see the changes
    details = item_details(session, [item.id for item in items])
    for item in items:
        _, category_name, option_groups = details[item.id]
        item.version = (item.version or 0) + 1
        event_id = str(uuid.uuid4())
        payload = {
            "event_id": event_id,
            **snapshot(item, category_name, option_groups),
            "changed_at": utcnow().isoformat(timespec="milliseconds"),
        }
        add_event(
            session,
            Outbox,
            topic=TOPIC,
            key=str(item.store_id),
            payload=payload,
            headers={"schema": f"{TOPIC}.v{SCHEMA_VERSION}"},
            event_id=event_id,
        )
