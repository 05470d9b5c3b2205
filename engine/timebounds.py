"""The span of time taskclf accepts from a person or a file: 1970-01-01 to 2199-12-31 UTC.

``datetime`` reaches from year 1 to 9999, but converting such a time to UTC or to the local zone,
or adding the half day of context a batch run reads around it, overflows (``OverflowError`` or
``ValueError: year 0 is out of range``). Timestamps typed on the command line, imported from a
CSV or read from feature rows are checked here first, so those cases are one clear line.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from engine.errors import ArtifactError

FIRST_YEAR = 1970
LAST_YEAR = 2199
_RANGE = f"must be within the years {FIRST_YEAR}..{LAST_YEAR}"


def to_utc(dt: datetime, *, where: str | None, field: str) -> datetime:
    """``dt`` (aware; naive means local time) in UTC, or one ``ArtifactError`` line when it is
    outside the supported years (checked before any zone arithmetic can overflow)."""
    if not FIRST_YEAR <= dt.year <= LAST_YEAR:
        raise ArtifactError(where, field, _RANGE)
    try:
        out = dt.astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        raise ArtifactError(where, field, _RANGE) from None
    if not FIRST_YEAR <= out.year <= LAST_YEAR:
        raise ArtifactError(where, field, _RANGE)
    return out


def check_day(day: date, *, where: str | None, field: str) -> date:
    """A local day within the supported years."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ArtifactError(where, field, _RANGE)
    return day
