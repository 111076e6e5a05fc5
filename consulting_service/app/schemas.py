"""Consulting requests and responses (they validate input and document the API)."""

from __future__ import annotations

from pydantic import model_validator

from salesync_common.timeutil import MAX_RANGE_DAYS
from salesync_common.types import BusinessDate, Model

REQ_ID_PATTERN = r"^[0-9a-f]{32}$"


class PeriodIn(Model):
    start: BusinessDate
    end: BusinessDate

    @model_validator(mode="after")
    def _ordered(self) -> PeriodIn:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if (self.end - self.start).days + 1 > MAX_RANGE_DAYS:
            raise ValueError(f"the range must not exceed {MAX_RANGE_DAYS} days")
        return self


class RequestedOut(Model):
    result: str
    req_id: str


class StatusOut(Model):
    result: str
    message: str
    req_id: str | None = None
