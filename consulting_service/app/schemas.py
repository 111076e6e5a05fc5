"""Consulting requests and responses (they validate input and document the API)."""

from __future__ import annotations

from salesync_common.types import Model


class RequestedOut(Model):
    result: str
    req_id: str


class StatusOut(Model):
    result: str
    message: str
    req_id: str | None = None
