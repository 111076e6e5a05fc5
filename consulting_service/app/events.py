"""The ``consulting.results`` v1 event; its schema is in ``contracts/events/``."""

from __future__ import annotations

from typing import Any

from salesync_common.timeutil import utcnow


def result_event(
    *, event_id: str, req_id: str, store_id: int, status: str, advice: str | None, model: str | None
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "req_id": req_id,
        "store_id": store_id,
        "status": status,
        "advice": advice,
        "model": model,
        "created_at": utcnow().isoformat(timespec="seconds"),
    }
