"""Business days and dates: a business day is a calendar day in the store's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Seoul"
MAX_RANGE_DAYS = 366


@lru_cache(maxsize=64)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """A stored timestamp as an aware one: naive means UTC (SQLite drops offsets)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_instant(value: object) -> datetime | None:
    """An ISO 8601 instant from another service, in UTC (None if it is not one).

    Converted to UTC because SQLite stores the wall clock of an aware value and drops its offset:
    a ``+09:00`` time written as is would later read back nine hours off.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return aware(moment).astimezone(UTC)


def business_date(moment: datetime, tz: str | None = DEFAULT_TZ) -> date:
    return aware(moment).astimezone(zone(tz)).date()


def iso(moment: datetime, tz: str | None = DEFAULT_TZ) -> str:
    """ISO 8601 with the store's offset, e.g. ``2026-11-23T21:05:00+09:00``."""
    return aware(moment).astimezone(zone(tz)).isoformat(timespec="seconds")


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
