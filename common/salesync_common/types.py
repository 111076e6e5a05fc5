"""Input types shared by the services' schemas: the contract's rules in one place.

Names are 1-100 characters after trimming (any Unicode), ids fit PostgreSQL integers, money is
integer won (0-100,000,000), a price may arrive as a numeric string, dates are ``YYYY-MM-DD``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Self

from annotated_types import GroupedMetadata
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from salesync_common.errors import ApiError
from salesync_common.timeutil import MAX_RANGE_DAYS

INT32_MAX = 2_147_483_647  # PostgreSQL's ``integer``: ids, versions, path parameters
ID_MAX = INT32_MAX
MONEY_MAX = 100_000_000
# Consulting request ids (uuid4 hex): shared by the consulting event's producer and consumer.
REQ_ID_PATTERN = r"^[0-9a-f]{32}$"
_DIGITS = re.compile(r"^\s*\d{1,9}\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Model(BaseModel):
    """Request/response base: unknown fields are ignored, values are not coerced silently."""

    model_config = ConfigDict(extra="ignore", strict=True)


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("control characters are not allowed")
    return value


@dataclass(frozen=True)
class Text(GroupedMetadata):
    """The rules of a text field, as ``Annotated[str, Text(100)]`` (a type checker reads that).

    Trimmed, ``min_length``-``max_length`` characters after trimming, no control characters.
    """

    max_length: int
    min_length: int = 1

    def __iter__(self) -> Iterator[object]:
        yield StringConstraints(
            strip_whitespace=True, min_length=self.min_length, max_length=self.max_length
        )
        yield AfterValidator(_no_control_chars)


def text(max_length: int, min_length: int = 1) -> Any:
    """The same rules as a runtime-built type; prefer ``Annotated[str, Text(...)]`` in new code."""
    return Annotated[str, Text(max_length, min_length)]


Name = Annotated[str, Text(100)]
Id = Annotated[int, Field(ge=1, le=ID_MAX)]
TableNo = Annotated[int, Field(ge=0, le=9999)]
Quantity = Annotated[int, Field(ge=1, le=999)]
Money = Annotated[int, Field(ge=0, le=MONEY_MAX)]


def _lenient_money(value: Any) -> Any:
    # The frontend posts the price text box as a string ("2000"); numbers are accepted as well.
    if isinstance(value, bool):
        raise ValueError("must be an integer or a numeric string")
    if isinstance(value, str):
        if not _DIGITS.match(value):
            raise ValueError("must be an integer or a numeric string")
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


PriceInput = Annotated[
    Money,
    BeforeValidator(_lenient_money),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MONEY_MAX},
                {"type": "string", "pattern": r"^\d{1,9}$"},
            ]
        }
    ),
]


def _parse_date(value: Any) -> Any:
    if isinstance(value, str):
        if not _DATE.match(value):
            raise ValueError("must be a date as YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("must be a real calendar date (YYYY-MM-DD)") from exc
    return value


BusinessDate = Annotated[
    date,
    BeforeValidator(_parse_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}),
]


PERIOD_MESSAGE = "날짜를 YYYY-MM-DD 형식으로, 시작일이 종료일보다 늦지 않게(최대 366일) 입력하세요."


class Period(Model):
    """``start``/``end`` business days, inclusive, ordered, at most 366 days."""

    start: BusinessDate
    end: BusinessDate

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if (self.end - self.start).days + 1 > MAX_RANGE_DAYS:
            raise ValueError(f"the range must not exceed {MAX_RANGE_DAYS} days")
        return self


class ContractDates(Model):
    """Dates the first contract answers 400 ``invalid_dates`` to when bad (not the usual 422).

    ``endpoint(query=...)`` answers 422 to a model that does not validate: these models raise the
    contract's 400 themselves (with the same ``fields``), so a view can still declare them and
    OpenAPI documents their parameters.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _invalid_dates(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as exc:
            fields: dict[str, str] = {}
            for item in exc.errors(include_url=False, include_input=False):
                location = ".".join(str(part) for part in item["loc"]) or "body"
                fields.setdefault(location, item["msg"])
            raise ApiError(PERIOD_MESSAGE, status=400, code="invalid_dates", fields=fields) from exc


class PeriodQuery(ContractDates, Period):
    """A ``Period`` as the first contract takes it (query or body): bad dates are 400.

    ``ContractDates`` comes first so that its wrap validator wraps ``Period``'s own check too.
    """


class Message(Model):
    result: str
    message: str


class Failed(Model):
    result: str = "failed"
    message: str
