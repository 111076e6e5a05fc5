"""The ``consulting.results`` v1 event (schema: consulting_service/events/*.schema.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salesync_common.timeutil import utcnow

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "events" / "consulting.results.v1.schema.json"


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
