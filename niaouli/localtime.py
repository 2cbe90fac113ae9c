"""New Caledonia's time: stored in UTC, shown in Nouméa's (UTC+11, no daylight saving).

Shared by the catalogue (events), the API, the portal's pages and iCalendar feeds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

NOUMEA = ZoneInfo("Pacific/Noumea")


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime. Naive values are UTC: that is how SQLite returns them."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime | None) -> datetime | None:
    """The time in Nouméa (UTC+11, no daylight saving), for display and iCalendar."""
    return None if value is None else as_utc(value).astimezone(NOUMEA)


def today() -> date:
    """Today in Nouméa: a date an administration writes (a signature, a deadline) is
    its own day, which is UTC's tomorrow from 13:00 UTC."""
    return datetime.now(NOUMEA).date()
