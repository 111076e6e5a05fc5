"""``GET /orders/stream``: the live status of the store's tables as Server-Sent Events."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, stream_with_context

from salesync_common.api import endpoint
from salesync_common.app import runtime
from salesync_common.auth import bearer_expires_at, current_store_id
from salesync_common.errors import ValidationFailed

from ...config import Settings
from .. import stream
from ..schemas import StreamQuery

bp = Blueprint("order_stream", __name__)
DESCRIPTION = """\
`text/event-stream` of the store's order changes, one event per `order_events` row, in order:
`id:` is the store's event `seq`, `event:` is `opened`, `updated` (lines, discounts, payments short
of paid, and any newer change type), `paid`, `cancelled` or `transferred`, and `data:` is JSON
`{seq, order_id, table_no, type, staff_id, at, ...what changed}`.

Resume after a disconnect with the `Last-Event-ID` header (browsers' `EventSource` sends it) or
`?last_event_id=`: every event after that seq is replayed, then the stream goes on live, with no
gap and no duplicate. Without either it starts with the next change. A comment line
(`: heartbeat ...`) comes every 15 s (`STREAM_HEARTBEAT_SECONDS`); the stream ends when the token
expires (reconnect with a fresh one and the last id).

```
(data is one line on the wire; wrapped here)
id: 42
event: updated
data: {"seq":42,"order_id":7,"table_no":3,"type":"lines_changed","staff_id":null,
       "at":"2026-11-23T12:05:00.120+00:00","version":2,"total_price":24000}
```
"""


def _last_event_id(query: StreamQuery) -> int | None:
    header = request.headers.get("Last-Event-ID")
    if header is None or not header.strip():
        return None if query.last_event_id is None else int(query.last_event_id)
    value = header.strip()
    if not value.isdigit() or len(value) > 18:
        raise ValidationFailed(
            "Last-Event-ID는 0 이상의 정수여야 합니다.",
            fields={"Last-Event-ID": "must be a non-negative integer"},
        )
    return int(value)


@bp.get("/orders/stream")
@endpoint(
    "Live table status (Server-Sent Events)",
    permission="orders",
    query=StreamQuery,
    tags=("orders",),
    description=DESCRIPTION,
    media_type="text/event-stream",
)
def order_stream(query: StreamQuery) -> Response:
    settings: Settings = runtime().settings  # type: ignore[assignment]
    last_event_id = _last_event_id(query)
    events = stream.sse_stream(
        current_app.extensions["order_event_tail"],
        current_app.extensions["order_engine"],
        current_store_id(),
        last_event_id,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        expires_at=bearer_expires_at(),
    )
    return Response(
        stream_with_context(events),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
