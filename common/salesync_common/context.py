"""Per-request context shared by logging, the HTTP client and metrics (request id, store id)."""

from __future__ import annotations

import contextvars
import uuid

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
service_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("service", default=None)
store_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("store_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
_MAX_REQUEST_ID = 64


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """Keep a caller's request id when it is a short printable token, else mint one."""
    if value and len(value) <= _MAX_REQUEST_ID and value.isascii() and value.isprintable():
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()
