"""``menu.items``: one state-carrying event per item change, written through the outbox.

Every change of an item (create, update, retire, its category retired, a cost change) calls
:func:`item_changed` in the transaction that makes the change: it bumps the item's ``version``
and stages the item's whole snapshot for topic ``menu.items`` (key = store id). Consumers keep the
snapshot with the highest version per item, so duplicates and reordering change nothing.

The event's shape is ``contracts/events/menu.items.v1.schema.json``. New item attributes (tax,
sold out, option groups, ...) are new keys of :func:`snapshot`: consumers ignore keys they do not
know yet, so adding one is backward compatible (a breaking change is a new topic version).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from salesync_common.outbox import add_event
from salesync_common.timeutil import utcnow

from .models import Item, Outbox

TOPIC = "menu.items"
SCHEMA_VERSION = "1"


def snapshot(item: Item) -> dict[str, Any]:
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
    }


def item_changed(session: Session, item: Item) -> None:
    """Bump the version of a changed (row-locked or new) item and stage its snapshot.

    The caller holds the item's row lock (or created it), so versions of one item are assigned
    one at a time; the event commits or rolls back with the change.
    """
    if item.id is None:
        session.flush()  # a new item needs its id in the event
    item.version = (item.version or 0) + 1
    event_id = str(uuid.uuid4())
    payload = {
        "event_id": event_id,
        **snapshot(item),
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
