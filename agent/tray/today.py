"""The tray's "Today": the model's blocks with the user's own labels laid over them.

What the user said wins wherever they said it (a correction, a confirmation, "Label the last
15 min", an answered question); the model's blocks fill the rest of the day, cut around the
user's spans. Pure: the same blocks, labels, time and zone give the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from agent.snapshot import UserLabel
from engine.record import Block


@dataclass(frozen=True, slots=True)
class TodayRow:
    start: datetime
    end: datetime
    label: str
    mapped_label: str | None  # the taxonomy's name for a model block; None for the user's own
    yours: bool


def _ts(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def local_midnight(now: datetime, tz: tzinfo | None) -> datetime:
    """The start of ``now``'s day in ``tz`` (None: the machine's zone), DST-safe."""
    local = now.astimezone(tz)
    midnight = datetime(local.year, local.month, local.day)
    aware = midnight.replace(tzinfo=local.tzinfo) if tz is not None else midnight.astimezone()
    return aware.astimezone(UTC)


def today_rows(blocks: tuple[Block, ...], labels: tuple[UserLabel, ...], now: datetime,
               tz: tzinfo | None = None) -> list[TodayRow]:
    """Rows of the user's local day, oldest first; the user's label wins where it was given.

    Overlapping user labels (the store resolves them, so only in odd cases) are laid in order,
    the later one on top.
    """
    day_start = local_midnight(now, tz)
    day_end = day_start + timedelta(days=2)  # generous: a DST day is 23 or 25 hours
    mine = [(max(_ts(u.start), day_start), min(_ts(u.end), day_end), u.label) for u in labels]
    mine = [m for m in mine if m[0] < m[1]]
    model = [(_ts(b.start), _ts(b.end), b) for b in blocks]
    cuts = sorted({t for s, e, _ in mine for t in (s, e)} | {t for s, e, _ in model for t in (s, e)})
    rows: list[TodayRow] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        if b <= day_start:
            continue
        a = max(a, day_start)
        user = next((lab for s, e, lab in reversed(mine) if s <= a and b <= e), None)
        if user is not None:
            row = TodayRow(a, b, user, None, True)
        else:
            block = next((blk for s, e, blk in model if s <= a and b <= e), None)
            if block is None:
                continue
            row = TodayRow(a, b, block.label, block.mapped_label, False)
        last = rows[-1] if rows else None
        if last is not None and last.end == row.start and (last.label, last.mapped_label,
                                                           last.yours) == (row.label,
                                                                           row.mapped_label,
                                                                           row.yours):
            rows[-1] = TodayRow(last.start, row.end, row.label, row.mapped_label, row.yours)
        else:
            rows.append(row)
    return rows
